//! `weft bench` keeps working with every system it compares: a small run of raw, Kafka Streams
//! (exactly_once_v2 and at_least_once), weft and two replicas of weft, where each system's outputs are counted by event
//! (the bench fails on a lost or duplicated output) and every figure is reported. This checks the
//! command's output and its exact counts, never its speed (figures: docs/performance.md).

use std::process::Command;

#[test]
fn a_small_bench_runs_every_system_and_counts_exactly() {
    weft_testkit::broker();
    let chart = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .current_dir(weft_testkit::repo_root())
        .args([
            "bench",
            "--peers",
            "raw,kstreams-eos,kstreams-alos,weft,weft-x2",
            "--events",
            "2000",
            "--paced-events",
            "100",
            "--rate",
            "200",
            "--rounds",
            "1",
            "--partitions",
            "3",
            "--chart",
        ])
        .arg(chart.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for peer in ["raw", "kstreams-eos", "kstreams-alos", "weft", "weft-x2"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("round 1 {peer} ")))
            .unwrap_or_else(|| panic!("no run of {peer}:\n{stdout}"));
        assert!(line.ends_with("exactly once"), "{line}");
        assert!(
            line.contains("CPU s/100k") && line.contains("peak RSS"),
            "{line}"
        );
    }
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("weft, exactly-once (1)"))
        .unwrap_or_else(|| panic!("no summary row for weft:\n{stdout}"));
    assert!(summary.contains("1.00x, 1.00x, 1.00x"), "{summary}");
    // Two replicas of weft in one group: counted exactly like one, and reported per replica.
    let scaling = stdout
        .lines()
        .find(|l| l.starts_with("scaling"))
        .unwrap_or_else(|| panic!("no scaling line:\n{stdout}"));
    assert!(
        scaling.contains("weft x1:") && scaling.contains("weft-x2 x2:"),
        "{scaling}"
    );
    let svg = std::fs::read_to_string(chart.path()).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.matches("<rect").count() >= 4,
        "{svg}"
    );
}

/// `weft bench-outbox` keeps working: a small drain by the relay (two batch sizes) and by the
/// baseline, and a short latency run, each counted exactly (figures: docs/outbox.md).
#[test]
fn a_small_outbox_bench_drains_and_measures_latency_exactly_once() {
    weft_testkit::broker();
    let database = weft_testkit::postgres();
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .current_dir(weft_testkit::repo_root())
        .env("WEFT_DATABASE_URL", &database)
        .args(["bench-outbox", "--rows", "1000", "--latency-rows", "100"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for run in [
        "drain relay, batch 500:",
        "drain relay, batch 50:",
        "drain baseline",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(run))
            .unwrap_or_else(|| panic!("no `{run}` line:\n{stdout}"));
        assert!(
            line.contains("rows/s")
                && line.contains("CPU s/100k rows")
                && line.contains("exactly once"),
            "{line}"
        );
    }
    let latency = stdout
        .lines()
        .find(|l| l.starts_with("latency at"))
        .unwrap_or_else(|| panic!("no latency line:\n{stdout}"));
    assert!(
        latency.contains("p50") && latency.contains("p99") && latency.contains("over 100 rows"),
        "{latency}"
    );
}
