//! The systems `weft bench` compares, each started as its own OS process so that its CPU time and
//! peak memory are its own:
//!
//! - `raw`: `weft bench-pipe`, an rdkafka consumer and producer copying bytes, committing offsets
//!   after each batch is acknowledged (at-least-once; no Avro);
//! - `kstreams-eos` / `kstreams-alos`: the Kafka Streams peer in `bench/kstreams` (Java 17, built
//!   by its `build.sh`), the same decode → transform → encode pipeline with Apache Avro, with
//!   `processing.guarantee=exactly_once_v2` or `at_least_once`, commit interval 100 ms, heap
//!   bounded at 512 MB as a container would;
//! - `weft`: `weft run b2b.notification-worker` in a private topic namespace (`--topic-prefix`),
//!   read_committed, registry decode, the B2B confirmation processor, encode, one transaction per
//!   batch (exactly-once).
//!
//! Failure modes: a peer that exits before it is stopped fails the run with its exit code and the
//! tail of its stderr (kept in the run's log directory).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context};
use weft_core::kafka::KafkaConfig;

/// The processor every exactly-once peer runs.
pub const PROCESSOR: &str = "b2b.notification-worker";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    Raw,
    KStreamsEos,
    KStreamsAlos,
    Weft,
    /// weft with two replicas of the processor in one consumer group (scaling).
    WeftX2,
    /// weft with four replicas.
    WeftX4,
}

impl Peer {
    pub fn parse_list(text: &str) -> anyhow::Result<Vec<Peer>> {
        let mut peers = Vec::new();
        for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let peer = match name {
                "raw" => Peer::Raw,
                "kstreams-eos" => Peer::KStreamsEos,
                "kstreams-alos" => Peer::KStreamsAlos,
                "weft" => Peer::Weft,
                "weft-x2" => Peer::WeftX2,
                "weft-x4" => Peer::WeftX4,
                other => bail!(
                    "--peers: unknown system `{other}` (known: raw, kstreams-eos, kstreams-alos, weft, weft-x2, weft-x4)"
                ),
            };
            if !peers.contains(&peer) {
                peers.push(peer);
            }
        }
        if !peers.contains(&Peer::Weft) {
            bail!("--peers must include weft: every ratio is against it");
        }
        Ok(peers)
    }

    pub fn name(self) -> &'static str {
        match self {
            Peer::Raw => "raw",
            Peer::KStreamsEos => "kstreams-eos",
            Peer::KStreamsAlos => "kstreams-alos",
            Peer::Weft => "weft",
            Peer::WeftX2 => "weft-x2",
            Peer::WeftX4 => "weft-x4",
        }
    }

    /// Processes of the system (replicas in one consumer group).
    pub fn instances(self) -> usize {
        match self {
            Peer::WeftX2 => 2,
            Peer::WeftX4 => 4,
            _ => 1,
        }
    }

    /// A weft system (one or more replicas).
    pub fn is_weft(self) -> bool {
        matches!(self, Peer::Weft | Peer::WeftX2 | Peer::WeftX4)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Peer::Raw => "raw bytes, at-least-once",
            Peer::KStreamsEos => "Kafka Streams, exactly_once_v2",
            Peer::KStreamsAlos => "Kafka Streams, at_least_once",
            Peer::Weft => "weft, exactly-once",
            Peer::WeftX2 => "weft, 2 replicas",
            Peer::WeftX4 => "weft, 4 replicas",
        }
    }

    pub fn is_kstreams(self) -> bool {
        matches!(self, Peer::KStreamsEos | Peer::KStreamsAlos)
    }
}

/// What every peer process needs to know.
pub struct Launch<'a> {
    pub kafka: &'a KafkaConfig,
    /// This run's namespace: `<bench prefix><peer>-r<round>.`.
    pub prefix: &'a str,
    pub input: &'a str,
    pub output: &'a str,
    pub registry_url: &'a str,
    pub input_schema_file: &'a Path,
    pub output_schema_file: &'a Path,
    pub input_schema_id: u32,
    pub output_schema_id: u32,
    pub avro_dir: &'a Path,
    pub topics_dir: &'a Path,
    /// The Kafka Streams peer's classpath (when a kstreams peer runs).
    pub kstreams_classpath: Option<&'a str>,
    pub log: PathBuf,
}

/// Starts every process of `peer` (one, or a weft peer's replicas); the stderr of replica `i`
/// goes to `launch.log` (`.i` appended after the first).
pub fn start(peer: Peer, launch: &Launch<'_>) -> anyhow::Result<Vec<Child>> {
    (0..peer.instances())
        .map(|i| {
            let log = match i {
                0 => launch.log.clone(),
                i => launch.log.with_extension(format!("log.{i}")),
            };
            start_one(peer, launch, i, &log)
        })
        .collect()
}

fn start_one(
    peer: Peer,
    launch: &Launch<'_>,
    replica: usize,
    log_path: &Path,
) -> anyhow::Result<Child> {
    let log = std::fs::File::create(log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let weft = std::env::current_exe().context("locating the weft binary")?;
    let mut cmd = match peer {
        Peer::Raw => {
            let mut c = Command::new(&weft);
            c.args([
                "bench-pipe",
                "--input",
                launch.input,
                "--output",
                launch.output,
            ])
            .args(["--group", &format!("{}raw", launch.prefix)]);
            c
        }
        Peer::Weft | Peer::WeftX2 | Peer::WeftX4 => {
            let mut c = Command::new(&weft);
            c.args(["run", PROCESSOR])
                .env("WEFT_TOPIC_PREFIX", launch.prefix)
                .env("WEFT_REGISTRY_URL", launch.registry_url)
                .env("WEFT_SCHEMA_AUTO_REGISTER", "true")
                .env("WEFT_INSTANCE_ID", format!("bench-{replica}"))
                .env("WEFT_METRICS_LISTEN", "off")
                .env("WEFT_AVRO_DIR", launch.avro_dir)
                .env("WEFT_TOPICS_DIR", launch.topics_dir);
            c
        }
        Peer::KStreamsEos | Peer::KStreamsAlos => {
            let cp = launch
                .kstreams_classpath
                .context("the Kafka Streams peer was not built")?;
            let guarantee = if peer == Peer::KStreamsEos {
                "exactly_once_v2"
            } else {
                "at_least_once"
            };
            let mut c = Command::new("java");
            c.args(["-Xmx512m", "-cp", cp, "dev.weft.bench.KStreamsPeer"])
                .args(["--bootstrap", &launch.kafka.bootstrap_servers])
                .args(["--application-id", &format!("{}kstreams", launch.prefix)])
                .args(["--input", launch.input, "--output", launch.output])
                .arg("--input-schema")
                .arg(launch.input_schema_file)
                .arg("--output-schema")
                .arg(launch.output_schema_file)
                .args(["--input-schema-id", &launch.input_schema_id.to_string()])
                .args(["--output-schema-id", &launch.output_schema_id.to_string()])
                .args(["--producer", PROCESSOR, "--guarantee", guarantee]);
            c
        }
    };
    // weft children read their cluster from the same settings as this process.
    cmd.env("WEFT_BOOTSTRAP_SERVERS", &launch.kafka.bootstrap_servers)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    cmd.spawn()
        .with_context(|| format!("starting the {} peer", peer.name()))
}

/// Builds the Kafka Streams peer (`bench/kstreams/build.sh`, a no-op when up to date) and
/// returns its classpath.
pub fn build_kstreams(repo: &Path) -> anyhow::Result<String> {
    let script = repo.join("bench/kstreams/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!("{} failed (exit {:?})", script.display(), out.status.code());
    }
    let cp = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    if cp.is_empty() {
        bail!("{} printed no classpath", script.display());
    }
    Ok(cp)
}

/// CPU seconds (user + system) the process has used so far, from /proc/<pid>/stat.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Linux reports them in USER_HZ, which is 100 on every architecture it runs on.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory of the process in kB (VmHWM), from /proc/<pid>/status.
pub fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}
