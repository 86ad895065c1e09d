//! `weft migrate`: moving an event from one topic version to the next (docs/migration.md).
//!
//! `plan` checks the declarations of `topics/migrations/` against the topic specs and the
//! registered transforms; `start` records the dual-write phase in the control topic (processors
//! started from then on write both topics); `mirror` runs the backfill, the exactly-once
//! converter of the old topic into the new one, printing progress and an ETA; `status` shows
//! the mirror's lag and, per group, which topic it reads, its lag and active members; `cutover`
//! moves a stopped group from the old topic to the new one through the stamps (`--dry-run`
//! prints the translated offsets), `rollback` moves it back.
//!
//! Failure modes: every step refuses with the reason and a non-zero exit instead of guessing: a
//! declaration that does not fit its specs or has no registered transform, a group with active
//! members (their next commit would undo the move), a mirror that has not yet copied up to the
//! group's position (after `--wait`), a record of the new topic without a stamp. Two operators
//! changing one migration at once: each step that changes it holds the migration
//! ([`migration::StateLock`], a transactional id per migration) from reading the state to
//! writing it, and a cutover's offsets are committed in the transaction that records it; the
//! step that was overtaken writes nothing and says so.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use rdkafka::consumer::{BaseConsumer, Consumer};
use weft_core::kafka::KafkaConfig;
use weft_core::migration::{MigrationSpec, CONTROL_TOPIC};
use weft_core::spec::SpecSet;
use weft_runtime::migration::{self, MigrationState, Mirror, Transform};
use weft_runtime::{BreakerSettings, FailurePolicy, LoopSettings};

use crate::{out, Outcome};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(subcommand)]
    command: MigrateCommand,
    /// Directory of topic specs and migration declarations.
    #[arg(long, env = "WEFT_TOPICS_DIR", default_value = "topics", global = true)]
    topics_dir: PathBuf,
    /// Prefix of every topic and group on the wire, as given to `weft run` (a private namespace).
    #[arg(long, env = "WEFT_TOPIC_PREFIX", default_value = "", global = true)]
    topic_prefix: String,
}

#[derive(Debug, Subcommand)]
enum MigrateCommand {
    /// Check every declaration against the topic specs and the registered transforms.
    Plan,
    /// Begin a migration: processors started from now on write the old and the new topic in one
    /// transaction (restart them to pick it up; run `mirror` alongside).
    Start { name: String },
    /// Run the mirror: copy the old topic into the new one exactly once, stamped, until stopped.
    Mirror(MirrorArgs),
    /// Where a migration stands: phase, mirror lag, and per group its topic, lag and members.
    Status { name: String },
    /// Move a stopped group from the old topic to the new one (exact, through the stamps).
    Cutover(MoveArgs),
    /// Move a stopped group back from the new topic to the old one.
    Rollback(MoveArgs),
    /// Retire the old topic: producers started from now on write only the new one. Refused
    /// while a group (declared, in the specs, or seen on the cluster) still reads the old topic
    /// or the mirror has not copied everything.
    Finish { name: String },
}

#[derive(Debug, Args)]
struct MirrorArgs {
    name: String,
    /// Stable instance identity of this mirror replica (part of its transactional id).
    #[arg(long, env = "WEFT_INSTANCE_ID", default_value = "mirror-0")]
    instance_id: String,
    /// Schema registry URL.
    #[arg(
        long,
        env = "WEFT_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    registry_url: String,
    /// Directory of Avro schemas.
    #[arg(long, env = "WEFT_AVRO_DIR", default_value = "avro")]
    avro_dir: PathBuf,
    /// Register the new topic's subject if missing instead of failing (off in production,
    /// where `weft schemas register` runs in CI).
    #[arg(long, env = "WEFT_SCHEMA_AUTO_REGISTER")]
    auto_register: bool,
    /// Records per transaction at most.
    #[arg(long, env = "WEFT_MAX_BATCH", default_value_t = 10_000)]
    max_batch: usize,
    /// Time per transaction at most.
    #[arg(long, env = "WEFT_COMMIT_INTERVAL", default_value = "100ms", value_parser = humantime::parse_duration)]
    commit_interval: Duration,
    /// Stop once the mirror has copied everything the old topic holds now (a one-off backfill).
    #[arg(long)]
    until_caught_up: bool,
}

#[derive(Debug, Args)]
struct MoveArgs {
    name: String,
    group: String,
    /// Print the translated offsets; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// How long to wait for the group's members to leave (a killed replica's session to
    /// expire) and for the mirror to reach the group's position.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    wait: Duration,
}

/// A declaration with its registered transform, checked, and its names on the wire.
struct Declared {
    spec: MigrationSpec,
    transform: Arc<Transform>,
    partitions: i32,
    /// The topic prefix.
    prefix: String,
}

impl Declared {
    fn from(&self) -> String {
        format!("{}{}", self.prefix, self.spec.from)
    }
    fn to(&self) -> String {
        format!("{}{}", self.prefix, self.spec.to)
    }
    fn mirror_group(&self) -> String {
        format!("{}{}", self.prefix, self.spec.mirror_group())
    }
    fn group(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
    fn control(&self) -> String {
        format!("{}{CONTROL_TOPIC}", self.prefix)
    }
}

fn declared(topics_dir: &std::path::Path, prefix: &str, name: &str) -> anyhow::Result<Declared> {
    let specs = SpecSet::load(topics_dir)?;
    let spec = specs.migration(name).cloned().ok_or_else(|| {
        anyhow!(
            "no migration named `{name}` in {}/migrations",
            topics_dir.display()
        )
    })?;
    check(&specs, &spec, prefix)
}

fn check(specs: &SpecSet, spec: &MigrationSpec, prefix: &str) -> anyhow::Result<Declared> {
    spec.check(specs)?;
    let transform = weft_processors::migrations()
        .into_iter()
        .find(|t| t.name() == spec.name)
        .ok_or_else(|| {
            anyhow!(
                "{}: no transform is registered under `{}` (weft_processors::migrations)",
                spec.path.display(),
                spec.name
            )
        })?;
    if transform.from() != spec.from || transform.to() != spec.to {
        bail!(
            "{}: declared {} -> {}, but the registered transform maps {} -> {}",
            spec.path.display(),
            spec.from,
            spec.to,
            transform.from(),
            transform.to()
        );
    }
    let partitions = specs.topic(&spec.from).map_or(0, |t| t.partitions);
    Ok(Declared {
        spec: spec.clone(),
        transform,
        partitions,
        prefix: prefix.to_string(),
    })
}

pub async fn run(args: MigrateArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let kafka = kafka.clone();
    let dir = args.topics_dir.clone();
    let prefix = args.topic_prefix.clone();
    tokio::task::spawn_blocking(move || {
        let declared = |name: &str| declared(&dir, &prefix, name);
        match args.command {
            MigrateCommand::Plan => plan(&dir),
            MigrateCommand::Start { name } => start(&kafka, &declared(&name)?),
            MigrateCommand::Mirror(m) => mirror(&kafka, &dir, &declared(&m.name)?, &m),
            MigrateCommand::Status { name } => status(&kafka, &dir, &declared(&name)?),
            MigrateCommand::Cutover(m) => {
                move_group(&kafka, &declared(&m.name)?, &m, Direction::Forward)
            }
            MigrateCommand::Rollback(m) => {
                move_group(&kafka, &declared(&m.name)?, &m, Direction::Back)
            }
            MigrateCommand::Finish { name } => finish(&kafka, &dir, &declared(&name)?),
        }
    })
    .await?
}

fn plan(dir: &std::path::Path) -> anyhow::Result<Outcome> {
    let specs = SpecSet::load(dir)?;
    if specs.migrations().is_empty() {
        out("no migration declared\n");
    }
    for spec in specs.migrations() {
        let d = check(&specs, spec, "")?;
        out(&format!(
            "{}: {} -> {} ({} partitions), mirror group {}, groups to move: {}\n",
            spec.name,
            spec.from,
            spec.to,
            d.partitions,
            spec.mirror_group(),
            spec.groups.join(", ")
        ));
    }
    Ok(Outcome::Ok)
}

fn state_of(kafka: &KafkaConfig, d: &Declared) -> anyhow::Result<MigrationState> {
    Ok(migration::read_states(kafka, &d.control())?
        .remove(&d.spec.name)
        .unwrap_or_default())
}

fn start(kafka: &KafkaConfig, d: &Declared) -> anyhow::Result<Outcome> {
    let name = &d.spec.name;
    let (lock, mut state) = migration::StateLock::take(kafka, &d.control(), name)?;
    match state.phase.as_str() {
        migration::DUAL_WRITE => {
            out(&format!("{name}: already in dual write\n"));
            return Ok(Outcome::Ok);
        }
        migration::FINISHED => bail!("{name} is finished; a new migration needs a new name"),
        _ => {}
    }
    state.phase = migration::DUAL_WRITE.into();
    state.log("start: dual write");
    lock.write(&state, None)?;
    out(&format!(
        "{name}: dual write from now on for processors emitting {} (restart them); run `weft migrate mirror {name}`\n",
        d.spec.from
    ));
    Ok(Outcome::Ok)
}

/// The consumer group's committed offsets on `topic`, per partition.
fn committed(kafka: &KafkaConfig, group: &str, topic: &str) -> anyhow::Result<BTreeMap<i32, i64>> {
    Ok(
        weft_console::lag::committed(kafka, group, &[topic.to_string()])?
            .into_iter()
            .map(|((_, p), o)| (p, o))
            .collect(),
    )
}

fn watermarks(
    kafka: &KafkaConfig,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<BTreeMap<i32, (i64, i64)>> {
    let c: BaseConsumer = kafka
        .client_config()
        .set("isolation.level", "read_committed")
        .create()?;
    (0..partitions)
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(30))
                .map(|w| (p, w))
                .with_context(|| format!("reading the watermarks of {topic}[{p}]"))
        })
        .collect()
}

fn mirror(
    kafka: &KafkaConfig,
    dir: &std::path::Path,
    d: &Declared,
    args: &MirrorArgs,
) -> anyhow::Result<Outcome> {
    let specs = SpecSet::load(dir)?;
    let group = specs.group(&d.spec.mirror_group());
    let catalog = weft_contracts::Catalog::load(&args.avro_dir)
        .map_err(|e| anyhow!("loading schemas from {}: {e}", args.avro_dir.display()))?;
    let schemas: Arc<dyn weft_runtime::schemas::SchemaSource> = Arc::new(
        weft_runtime::schemas::RegistrySchemas::new(&args.registry_url, args.auto_register)?,
    );
    let mut processor = Mirror::new(d.transform.clone(), &catalog, schemas, &d.prefix)?;
    let shutdown = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, shutdown.clone())?;
    }
    let settings = LoopSettings {
        processor: d.spec.mirror_group(),
        group_id: d.mirror_group(),
        inputs: vec![d.from()],
        outputs: vec![d.to()],
        instance_id: args.instance_id.clone(),
        failure: FailurePolicy {
            processor: d.spec.mirror_group(),
            retry_tiers: Vec::new(),
            dead_letter_topic: d.group(&group.dead_letter_topic()),
            parking_topic: None,
        },
        breaker: BreakerSettings::default(),
        metrics: None,
        max_batch: args.max_batch,
        commit_interval: args.commit_interval,
        max_retries: 5,
        max_consecutive_aborts: 5,
        fetch_stall_limit: weft_runtime::fetch_guard::DEFAULT_LIMIT,
        dual_writes: Vec::new(),
        changelogs: Vec::new(),
        static_membership: false,
        shutdown: shutdown.clone(),
    };
    // Progress: the mirror group's lag on the old topic, and an ETA at the rate seen.
    let progress = {
        let kafka = kafka.clone();
        let (name, from, mirror_group) = (d.spec.name.clone(), d.from(), d.mirror_group());
        let partitions = d.partitions;
        let shutdown = shutdown.clone();
        let until_caught_up = args.until_caught_up;
        let target = if until_caught_up {
            Some(watermarks(&kafka, &from, partitions)?)
        } else {
            None
        };
        std::thread::spawn(move || {
            let started = Instant::now();
            let base: i64 = committed(&kafka, &mirror_group, &from)
                .map(|d| d.values().sum())
                .unwrap_or(0);
            let mut ticks = 0u64;
            while !shutdown.load(std::sync::atomic::Ordering::SeqCst) {
                // Checked every 250 ms (so --until-caught-up stops promptly), printed every 2 s.
                std::thread::sleep(Duration::from_millis(250));
                ticks += 1;
                let (Ok(done), Ok(ends)) = (
                    committed(&kafka, &mirror_group, &from),
                    watermarks(&kafka, &from, partitions),
                ) else {
                    continue;
                };
                let lag: i64 = ends
                    .iter()
                    .map(|(p, (low, high))| high - done.get(p).copied().unwrap_or(*low).max(*low))
                    .sum();
                let copied: i64 = done.values().sum();
                let rate = (copied - base) as f64 / started.elapsed().as_secs_f64().max(1e-3);
                let eta = if rate > 0.0 {
                    format!("{:.0} s", lag as f64 / rate)
                } else {
                    "-".into()
                };
                if ticks % 8 == 0 {
                    eprintln!("mirror {name}: lag {lag} records, {rate:.0} records/s, ETA {eta}");
                }
                if let Some(target) = &target {
                    let reached = target
                        .iter()
                        .all(|(p, (low, high))| done.get(p).copied().unwrap_or(*low) >= *high);
                    if reached {
                        eprintln!("mirror {name}: caught up with the old topic's end at start");
                        shutdown.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            }
        })
    };
    let stats = weft_runtime::run_loop(kafka, &settings, &mut processor);
    shutdown.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = progress.join();
    match stats {
        Ok(s) => {
            eprintln!(
                "mirror {}: stopped; consumed {} copied {} skipped (dual-written) {} dead-lettered {}",
                args.name, s.consumed, processor.copied, processor.skipped, s.dead_lettered
            );
            Ok(Outcome::Ok)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(Outcome::Exit(e.exit_code()))
        }
    }
}

fn members(kafka: &KafkaConfig, group: &str) -> anyhow::Result<usize> {
    Ok(weft_console::lag::groups(kafka, Some(group))?
        .into_iter()
        .find(|(n, _, _)| n == group)
        .map_or(0, |(_, _, m)| m))
}

/// The groups that still read the old topic: the declared groups and the old topic's spec
/// consumers not cut over, and any other group on the cluster with offsets on it (the mirror
/// and cut-over groups aside). Each with why it is listed.
fn still_on_old(
    kafka: &KafkaConfig,
    dir: &std::path::Path,
    d: &Declared,
    state: &MigrationState,
) -> anyhow::Result<Vec<String>> {
    let specs = SpecSet::load(dir)?;
    let mut readers: Vec<String> = d.spec.groups.clone();
    if let Some(t) = specs.topic(&d.spec.from) {
        readers.extend(t.consumers.iter().cloned());
    }
    readers.sort();
    readers.dedup();
    let mut still: Vec<String> = readers
        .iter()
        .filter(|g| !state.cut_over.contains_key(*g))
        .map(|g| format!("{g} (declared)"))
        .collect();
    let from = d.from();
    for (group, _, active) in weft_console::lag::groups(kafka, None)? {
        let Some(logical) = group.strip_prefix(&d.prefix) else {
            continue;
        };
        if group == d.mirror_group()
            || state.cut_over.contains_key(logical)
            || readers.iter().any(|r| r == logical)
        {
            continue;
        }
        if !committed(kafka, &group, &from)?.is_empty() {
            still.push(format!("{group} (on the cluster, {active} member(s))"));
        }
    }
    Ok(still)
}

fn status(kafka: &KafkaConfig, dir: &std::path::Path, d: &Declared) -> anyhow::Result<Outcome> {
    let name = &d.spec.name;
    let state = state_of(kafka, d)?;
    let phase = if state.phase.is_empty() {
        "not started"
    } else {
        state.phase.as_str()
    };
    let ends = watermarks(kafka, &d.from(), d.partitions)?;
    let lag_of = |done: &BTreeMap<i32, i64>, ends: &BTreeMap<i32, (i64, i64)>| -> i64 {
        ends.iter()
            .map(|(p, (low, high))| high - done.get(p).copied().unwrap_or(*low).max(*low))
            .sum()
    };
    let mirror_done = committed(kafka, &d.mirror_group(), &d.from())?;
    out(&format!(
        "{name}: {} -> {}, phase {phase}\n  mirror {}: lag {} on {}, {} member(s)\n",
        d.from(),
        d.to(),
        d.mirror_group(),
        lag_of(&mirror_done, &ends),
        d.from(),
        members(kafka, &d.mirror_group())?
    ));
    let to_ends = watermarks(kafka, &d.to(), d.partitions)?;
    for group in &d.spec.groups {
        let cut = state.cut_over.contains_key(group);
        let (topic, ends) = if cut {
            (d.to(), &to_ends)
        } else {
            (d.from(), &ends)
        };
        let done = committed(kafka, &d.group(group), &topic)?;
        out(&format!(
            "  {group}: reads {topic}, committed {:?}, lag {}, {} member(s)\n",
            done,
            lag_of(&done, ends),
            members(kafka, &d.group(group))?
        ));
    }
    let on_old = still_on_old(kafka, dir, d, &state)?;
    out(&format!(
        "  still on {}: {}\n",
        d.from(),
        if on_old.is_empty() {
            "none".into()
        } else {
            on_old.join(", ")
        }
    ));
    for line in &state.history {
        out(&format!("  {line}\n"));
    }
    Ok(Outcome::Ok)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Back,
}

fn move_group(
    kafka: &KafkaConfig,
    d: &Declared,
    args: &MoveArgs,
    direction: Direction,
) -> anyhow::Result<Outcome> {
    let name = &args.name;
    let group = &args.group;
    let group_id = d.group(group);
    if !d.spec.groups.contains(group) {
        bail!(
            "{group} is not among the groups of migration {name} ({}); add it to {}",
            d.spec.groups.join(", "),
            d.spec.path.display()
        );
    }
    // Held from the decision to the write: a concurrent step on this migration fences it. A
    // dry run changes nothing, so it reads without taking the hold (it must not fence a real
    // step).
    let (lock, mut state) = if args.dry_run {
        (None, state_of(kafka, d)?)
    } else {
        let (lock, state) = migration::StateLock::take(kafka, &d.control(), name)?;
        (Some(lock), state)
    };
    if state.phase != migration::DUAL_WRITE {
        bail!("migration {name} is not in dual write (run `weft migrate start {name}` first)");
    }
    let cut = state.cut_over.contains_key(group);
    match (direction, cut) {
        (Direction::Forward, true) => {
            out(&format!("{group} already reads {}\n", d.to()));
            return Ok(Outcome::Ok);
        }
        (Direction::Back, false) => {
            out(&format!("{group} already reads {}\n", d.from()));
            return Ok(Outcome::Ok);
        }
        _ => {}
    }
    let started = Instant::now();
    if !args.dry_run {
        // A replica killed without leaving stays a member until its session expires.
        loop {
            let active = members(kafka, &group_id)?;
            if active == 0 {
                break;
            }
            if started.elapsed() >= args.wait {
                bail!(
                    "group {group_id} still has {active} active member(s) after {:?}; stop its \
                     processors first (their next commit would undo the move)",
                    args.wait
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let (from, to) = match direction {
        Direction::Forward => (d.from(), d.to()),
        Direction::Back => (d.to(), d.from()),
    };
    let (from, to) = (&from, &to);
    let ends = watermarks(kafka, from, d.partitions)?;
    let mut position = committed(kafka, &group_id, from)?;
    for (p, (low, _)) in &ends {
        let at = position.entry(*p).or_insert(*low);
        *at = (*at).max(*low);
    }
    let translated = match direction {
        Direction::Forward => {
            let left = args.wait.saturating_sub(started.elapsed());
            wait_for_mirror(kafka, d, &position, left)?;
            migration::translate(kafka, to, &position)?
        }
        Direction::Back => migration::translate_back(kafka, from, &position)?,
    };
    for (p, next) in &position {
        out(&format!(
            "{group} {from}[{p}] {next} -> {to}[{p}] {}\n",
            translated[p]
        ));
    }
    if args.dry_run {
        out("dry run: nothing changed\n");
        return Ok(Outcome::Ok);
    }
    match direction {
        Direction::Forward => {
            state
                .cut_over
                .insert(group.clone(), chrono::Utc::now().to_rfc3339());
            state.log(format!("cutover {group} -> {to} at {translated:?}"));
        }
        Direction::Back => {
            state.cut_over.remove(group);
            state.log(format!("rollback {group} -> {to} at {translated:?}"));
        }
    }
    // A member that joined while the mirror was awaited would have its position moved under
    // it (a transactional commit without a generation is not refused while the group has
    // members): look again right before the write.
    let active = members(kafka, &group_id)?;
    if active > 0 {
        bail!(
            "group {group_id} has {active} active member(s) again; stop its processors and run the step again (nothing was changed)"
        );
    }
    // The group's offsets on the topic it moves to and the state that says so: one
    // transaction (the group is stopped: the commit needs no generation).
    let Some(lock) = lock else {
        bail!("internal: a cutover without the migration's hold");
    };
    lock.write(&state, Some((&group_id, to, &translated)))
        .with_context(|| format!("committing {group_id}'s offsets on {to}"))?;
    out(&format!("{group} now reads {to}; start its processors\n"));
    Ok(Outcome::Ok)
}

/// Waits until the mirror has committed positions at or past `position` on the old topic (it
/// has copied everything the group read), up to `wait`.
fn wait_for_mirror(
    kafka: &KafkaConfig,
    d: &Declared,
    position: &BTreeMap<i32, i64>,
    wait: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + wait;
    // Where the mirror never committed it has nothing to copy below the partition's start.
    let starts = watermarks(kafka, &d.from(), d.partitions)?;
    loop {
        let done = committed(kafka, &d.mirror_group(), &d.from())?;
        let behind: Vec<String> = position
            .iter()
            .filter(|(p, o)| {
                let start = starts.get(*p).map_or(0, |(low, _)| *low);
                done.get(*p).copied().unwrap_or(start) < **o
            })
            .map(|(p, o)| format!("[{p}] mirror {:?} < {o}", done.get(p)))
            .collect();
        if behind.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "the mirror ({}) has not copied up to the group's position after {wait:?}: {}; is `weft migrate mirror {}` running?",
                d.mirror_group(),
                behind.join(", "),
                d.spec.name
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Retires the old topic (see [`MigrateCommand::Finish`]).
fn finish(kafka: &KafkaConfig, dir: &std::path::Path, d: &Declared) -> anyhow::Result<Outcome> {
    let name = &d.spec.name;
    let (lock, mut state) = migration::StateLock::take(kafka, &d.control(), name)?;
    match state.phase.as_str() {
        migration::FINISHED => {
            out(&format!("{name}: already finished\n"));
            return Ok(Outcome::Ok);
        }
        migration::DUAL_WRITE => {}
        _ => bail!("migration {name} was not started"),
    }
    let still = still_on_old(kafka, dir, d, &state)?;
    let from = d.from();
    if !still.is_empty() {
        bail!(
            "refused: these groups still read {from}: {}; cut them over first (`weft migrate cutover {name} <group>`)",
            still.join(", ")
        );
    }
    // The mirror must have copied what the old topic holds now (it may trail live traffic by
    // a commit interval: wait up to 60 s).
    let ends: BTreeMap<i32, i64> = watermarks(kafka, &from, d.partitions)?
        .into_iter()
        .map(|(p, (_, high))| (p, high))
        .collect();
    wait_for_mirror(kafka, d, &ends, Duration::from_secs(60))
        .map_err(|e| anyhow!("refused: {e}"))?;
    state.phase = migration::FINISHED.into();
    state.log("finish: the old topic is retired");
    lock.write(&state, None)?;
    out(&format!(
        "{name}: finished. Processors started from now on write only {}; restart the producers of {from}, then stop the mirror once its lag stays 0\n",
        d.to()
    ));
    Ok(Outcome::Ok)
}
