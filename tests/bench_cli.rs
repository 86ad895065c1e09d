//! `weft bench` keeps working: a small run prints both pipelines and their ratio. This checks the
//! command's output, never its speed (figures come from running the bench, see docs/runtime.md).

use std::process::Command;

#[test]
fn a_small_bench_reports_both_pipelines_and_their_ratio() {
    weft_testkit::broker();
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .current_dir(weft_testkit::repo_root())
        .args([
            "bench",
            "--events",
            "300",
            "--latency-events",
            "30",
            "--latency-rate",
            "300",
            "--partitions",
            "3",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |prefix: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line:\n{stdout}"))
            .to_string()
    };
    for prefix in ["raw  at-least-once", "weft exactly-once"] {
        let l = line(prefix);
        let rate: f64 = l
            .split_whitespace()
            .find_map(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no rate in {l}"));
        assert!(rate > 0.0, "{l}");
        assert!(l.contains("p99") && l.contains("RSS"), "{l}");
    }
    let ratio: f64 = line("ratio weft/raw")
        .split_whitespace()
        .nth(3)
        .and_then(|w| w.parse().ok())
        .expect("a ratio");
    assert!(ratio > 0.0);
}
