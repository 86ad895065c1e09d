"""The chart's generated and versioned parts agree with the repository: files/topology.yaml with the
topic specs, appVersion with the workspace version, the ci/ matrix with what the issue asks."""

from __future__ import annotations

import re

import yaml

from conftest import CHART, CI_FILES, ROOT, load_specs


def test_topology_topics_match_the_specs(topology):
    specs = load_specs()
    assert set(topology["topics"]) == set(specs)
    for name, t in topology["topics"].items():
        s = specs[name]
        assert (t["partitions"], t["priority"], t.get("sla"), t["valueSubject"]) == \
            (s["partitions"], s["priority"], s.get("sla"), s["value_subject"]), name
    for name, p in topology["processors"].items():
        assert set(p["inputs"]) <= set(specs), name
        assert p["deadLetterTopic"] == f"{name}.dlq"


def test_app_version_is_the_workspace_version():
    cargo = (ROOT / "Cargo.toml").read_text()
    version = re.search(r'\[workspace\.package\][^\[]*?version\s*=\s*"([^"]+)"', cargo, re.S).group(1)
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == version
    assert chart["apiVersion"] == "v2" and chart["kubeVersion"].startswith(">=1.29")


def test_the_ci_matrix():
    names = {p.name for p in CI_FILES}
    assert names == {"minimal-values.yaml", "production-values.yaml", "keda-values.yaml", "hpa-values.yaml",
                     "outbox-values.yaml"}
    prod = yaml.safe_load((CHART / "ci" / "production-values.yaml").read_text())
    assert prod["kafka"]["sasl"]["enabled"] and prod["kafka"]["tls"]["enabled"]
    assert yaml.safe_load((CHART / "ci" / "keda-values.yaml").read_text())["autoscaling"]["mode"] == "keda"
    assert yaml.safe_load((CHART / "ci" / "hpa-values.yaml").read_text())["autoscaling"]["mode"] == "hpa"
    outbox = yaml.safe_load((CHART / "ci" / "outbox-values.yaml").read_text())
    assert outbox["outbox"]["enabled"] and outbox["database"]["existingSecret"]


def test_every_value_is_documented():
    """Every leaf of values.yaml has a comment right above it, or sits in a block whose key has one
    (e.g. `resources`, `podSecurityContext`)."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    keys = []  # (line index, indent, documented)
    for n, line in enumerate(lines):
        m = re.match(r"^(\s*)([A-Za-z0-9_.\-]+):(.*)$", line)
        if m and not line.lstrip().startswith("#"):
            keys.append((n, len(m.group(1)), n > 0 and lines[n - 1].strip().startswith("#"), m.group(3).strip()))
    undocumented = []
    for i, (n, indent, documented, value) in enumerate(keys):
        following = keys[i + 1][1] if i + 1 < len(keys) else -1
        if value == "" and following > indent:
            continue  # a map of more keys: its leaves are checked
        ancestors, level = [], indent
        for m, ind, doc, _ in reversed(keys[:i]):
            if ind < level:
                ancestors.append(doc)
                level = ind
        if not documented and not any(ancestors):
            undocumented.append(f"values.yaml:{n + 1}: {lines[n].strip()}")
    assert not undocumented, "\n".join(undocumented)
