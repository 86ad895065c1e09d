"""Every metric the alerts and the dashboard use is one the runtime exports, with the labels it has.

The truth is the runtime's real /metrics: scripts/helm/live_metrics.py (started in the background by
scripts/helm-check.sh) runs `weft run` on its own Kafka node, drives traffic through it and scrapes
it. Without a weft binary that test is skipped (said in the summary) and the names are checked
against what crates/weft-runtime/src/metrics.rs registers. Names that are not the runtime's are
either external (Prometheus, kube-state-metrics) or proposed ("pending") in metrics-contract.yaml.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from test_40_alerts import all_expressions

CONTRACT = yaml.safe_load((Path(__file__).parent / "metrics-contract.yaml").read_text())
EXTERNAL = CONTRACT["external"]
PENDING = CONTRACT["pending"]
# Labels Prometheus adds to every series it scrapes through the ServiceMonitor.
TARGET_LABELS = {"namespace", "pod", "service", "job", "instance", "endpoint", "container"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def family(name: str) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def source_metrics() -> dict[str, set[str]]:
    """Family -> labels, as crates/weft-runtime/src/metrics.rs registers them."""
    text = (ROOT / "crates/weft-runtime/src/metrics.rs").read_text()
    out = {}
    for kind, name, labels in re.findall(r'(counter|histogram|gauge)\(\s*&r,\s*"([a-z_]+)",\s*"[^"]*",\s*&\[([^\]]*)\]', text):
        out[f"weft_{name}"] = set(re.findall(r'"([a-z_]+)"', labels)) | ({"le"} if kind == "histogram" else set())
    for name, labels in re.findall(r'Opts::new\(\s*"([a-z_]+)",[^)]*\),\s*&\[([^\]]*)\]', text, re.S):
        out[f"weft_{name}"] = set(re.findall(r'"([a-z_]+)"', labels))
    assert len(out) >= 10, "metrics.rs no longer reads as expected: update source_metrics()"
    return out


def live_status() -> dict:
    live_dir = os.environ.get("WEFT_HELM_LIVE_DIR")
    if not live_dir:
        pytest.skip("WEFT_HELM_LIVE_DIR unset: run through scripts/helm-check.sh for the live /metrics check")
    status_file = Path(live_dir) / "status.json"
    deadline = time.monotonic() + 420
    while not status_file.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"scripts/helm/live_metrics.py wrote no {status_file} within 7 minutes (log: {live_dir}/log.txt)")
        time.sleep(1)
    status = json.loads(status_file.read_text())
    if status.get("skipped"):
        pytest.skip(f"live /metrics not scraped: {status['skipped']}")
    return status


def live_metrics() -> dict[str, set[str]]:
    """Family -> labels from the scrape."""
    status = live_status()
    assert status["ok"], f"the live /metrics scenario failed: {status.get('error')} (log: {os.environ['WEFT_HELM_LIVE_DIR']}/log.txt)"
    text = (Path(os.environ["WEFT_HELM_LIVE_DIR"]) / "metrics.txt").read_text()
    out: dict[str, set[str]] = {}
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? ", line)
        if m:
            out.setdefault(family(m.group(1)), set()).update(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(2) or ""))
    return out


@pytest.fixture(scope="module")
def references(parsed) -> list[tuple[str, str, set[str], set[str]]]:
    """(where, metric, matcher labels, grouping labels) of every selector of every expression."""
    out = []
    for e in parsed:
        for s in e["selectors"]:
            assert s["metric"], f"{e['id']}: a selector without a metric name"
            out.append((e["id"], s["metric"], set(s["labels"]), set(e["grouping"])))
    return out


@pytest.fixture(scope="module")
def parsed():
    from conftest import run_crcheck
    return run_crcheck({"resources": [], "expressions": all_expressions()})["expressions"]


def check(references, exported: dict[str, set[str]], what: str) -> list[str]:
    problems = []
    for where, metric, labels, grouping in references:
        fam = family(metric)
        if metric in EXTERNAL:
            known = set(EXTERNAL[metric]["labels"])
        elif fam in exported:
            known = exported[fam] | ({"le"} if metric.endswith("_bucket") else set())
        elif fam in PENDING:
            known = set(PENDING[fam]["labels"])
        else:
            problems.append(f"{where}: {metric} is not in {what}, nor external or pending in metrics-contract.yaml")
            continue
        unknown = labels - known - TARGET_LABELS
        if unknown:
            problems.append(f"{where}: {metric} has no label(s) {sorted(unknown)} (it has {sorted(known)})")
        if metric.startswith("weft_"):
            group_unknown = grouping - known - TARGET_LABELS - {"le"}
            # Grouping labels may come from another selector of the same expression.
            others = set().union(*[exported.get(family(m), set()) | set(PENDING.get(family(m), {}).get("labels", []))
                                   for w, m, _, _ in references if w == where])
            if group_unknown - others:
                problems.append(f"{where}: grouping by {sorted(group_unknown - others)}, which {metric} does not have")
    return problems


def test_every_metric_matches_the_runtimes_real_metrics_output(references):
    exported = live_metrics()
    problems = check(references, exported, "the runtime's /metrics")
    assert not problems, "\n".join(problems)
    # Pending metrics must really be missing: once the runtime exports one, move it out of the list.
    now_exported = sorted(set(PENDING) & set(exported))
    assert not now_exported, f"now exported by the runtime, remove from pending in metrics-contract.yaml: {now_exported}"


def test_every_metric_matches_what_the_runtime_registers(references):
    registered = source_metrics()
    problems = check(references, registered, "crates/weft-runtime/src/metrics.rs")
    assert not problems, "\n".join(problems)
    for name, p in PENDING.items():
        assert (name in registered) == bool(p.get("registered_in_source")), (
            f"{name}: registered_in_source in metrics-contract.yaml disagrees with metrics.rs")


def test_the_live_scrape_has_every_family_the_runtime_registers_and_increments():
    exported = live_metrics()
    registered = source_metrics()
    never = {n for n, p in PENDING.items() if p.get("registered_in_source")}
    assert set(registered) - never <= set(exported), sorted(set(registered) - never - set(exported))
    for fam, labels in exported.items():
        if fam in registered:
            assert labels == registered[fam], (fam, labels, registered[fam])


def test_pending_and_external_metrics_are_all_used(references):
    used = {family(m) for _, m, _, _ in references} | {m for _, m, _, _ in references}
    assert set(PENDING) <= used, f"pending but unused: {sorted(set(PENDING) - used)}"
    assert set(EXTERNAL) <= used, f"external but unused: {sorted(set(EXTERNAL) - used)}"
    for name, p in PENDING.items():
        assert {"type", "labels", "used_by", "why"} <= set(p), name


def test_the_check_catches_a_wrong_name_or_label():
    registered = source_metrics()
    refs = [("x", "weft_consumed_totals", set(), set()),
            ("y", "weft_dead_lettered_total", {"klass"}, set()),
            ("z", "weft_consumer_lag", set(), {"tenant"}),
            ("ok", "weft_end_to_end_seconds_bucket", {"namespace", "topic"}, {"le", "processor"})]
    problems = check(refs, registered, "metrics.rs")
    assert [p.split(":")[0] for p in problems] == ["x", "y", "z"], problems


def test_the_helm_test_topics_check_passes_after_provisioning():
    """The helm test's `weft topics check` (live scenario: right after `weft topics apply`)."""
    status = live_status()
    assert status["ok"], status.get("error")
    check = status["topics_check"]
    assert check["exit"] == 0 and check["output"].startswith("ok:"), check
