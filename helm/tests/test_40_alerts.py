"""The PrometheusRule: the alerts the seeds ask for, with their thresholds; the SLA alerts equal to
the topic specs' SLAs per priority; valid PromQL in every alert and dashboard query."""

from __future__ import annotations

import json
import re

import pytest

from conftest import CHART, CI_FILES, MINIMAL, NAMESPACE, kinds, load_specs, render, run_crcheck

PRODUCTION = CHART / "ci" / "production-values.yaml"


def rules(values=MINIMAL, sets=(), extra=None):
    docs = render(values=(values,) + ((extra,) if extra else ()), sets=sets)
    (rule,) = kinds(docs, "PrometheusRule")
    return {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}


def threshold(expr: str) -> float:
    m = re.search(r"> ([0-9.]+)\s*$", expr)
    assert m, expr
    return float(m.group(1))


def regex_names(expr: str, label: str) -> list[str]:
    m = re.search(label + r'=~"([^"]+)"', expr)
    assert m, expr
    return [n.replace("\\\\.", ".") for n in m.group(1).split("|")]


def seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d)", text))


def test_the_seed_alerts_exist():
    r = rules()
    expected = {
        "WeftDeadLettersWarning", "WeftDeadLettersCritical", "WeftDeadLetterTopicUnhandled",
        "WeftConsumerLagWarning", "WeftConsumerLagCritical",
        "WeftCircuitBreakerOpen", "WeftCircuitBreakerNearlyOpen",
        "WeftSlaCritical", "WeftSlaHigh", "WeftSlaNormal", "WeftProcessorDown",
    }
    assert expected <= set(r), sorted(expected - set(r))
    for name, rule in r.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_dead_letter_thresholds_are_seed_000s():
    r = rules()
    warn, crit = r["WeftDeadLettersWarning"], r["WeftDeadLettersCritical"]
    assert threshold(warn["expr"]) == 10 and warn["labels"]["severity"] == "warning"
    assert threshold(crit["expr"]) == 100 and crit["labels"]["severity"] == "critical"
    for rule in (warn, crit):
        assert "increase(weft_dead_lettered_total{" in rule["expr"] and "[1h]" in rule["expr"]
    unhandled = r["WeftDeadLetterTopicUnhandled"]
    assert threshold(unhandled["expr"]) == 3600  # "no DLQ processing for > 1 hour"
    r = rules(sets=("metrics.prometheusRule.deadLetters.unhandledFor=30m",
                    "metrics.prometheusRule.deadLetters.warning=5"))
    assert threshold(r["WeftDeadLetterTopicUnhandled"]["expr"]) == 1800
    assert threshold(r["WeftDeadLettersWarning"]["expr"]) == 5


def test_consumer_lag_alerts_leave_retry_topics_out():
    r = rules()
    assert threshold(r["WeftConsumerLagWarning"]["expr"]) == 1000
    assert threshold(r["WeftConsumerLagCritical"]["expr"]) == 10000
    for name in ("WeftConsumerLagWarning", "WeftConsumerLagCritical"):
        assert 'topic!~".+\\\\.retry\\\\..+"' in r[name]["expr"], r[name]["expr"]
        assert r[name]["for"] == "10m"


def test_circuit_breaker_alerts(tmp_path):
    r = rules()
    open_ = r["WeftCircuitBreakerOpen"]
    # The runtime exits 3 when the breaker opens; kube-state-metrics keeps the last exit code.
    assert "kube_pod_container_status_last_terminated_exitcode" in open_["expr"] and "== 3" in open_["expr"]
    assert 'container="processor"' in open_["expr"]
    assert open_["labels"]["severity"] == "critical"
    pods = re.search(r'pod=~"\(([^)]+)\)-\[0-9\]\+"', open_["expr"]).group(1).split("|")
    sts = {d["metadata"]["name"] for d in kinds(render(), "StatefulSet")}
    assert set(pods) == sts
    # Nearly open: per processor, at nearlyOpenShare of its own breaker ratio.
    ratio = tmp_path / "ratio.yaml"
    ratio.write_text("processors:\n  cypher.erp-sync:\n    enabled: true\n    breaker:\n      ratio: 0.2\n")
    r = rules(extra=ratio)
    expr = r["WeftCircuitBreakerNearlyOpen"]["expr"]
    assert 'processor="cypher.erp-sync"}) >= 0.16' in expr
    assert 'processor="b2b.notification-worker"}) >= 0.4' in expr


def test_sla_thresholds_equal_the_topic_specs():
    """Every topic spec with an SLA is watched by the alert of its priority, at exactly its SLA."""
    specs = load_specs()
    r = rules()
    watched: dict[str, tuple[str, float]] = {}
    for name, rule in r.items():
        if not name.startswith("WeftSla"):
            continue
        for topic in regex_names(rule["expr"], "topic"):
            assert topic not in watched, f"{topic} in two SLA alerts"
            watched[topic] = (rule["labels"]["priority"], threshold(rule["expr"]))
        assert seconds(rule["labels"]["sla"]) == threshold(rule["expr"]), name
        assert f"histogram_quantile(0.99," in rule["expr"]
    with_sla = {n: s for n, s in specs.items() if s.get("sla")}
    assert set(watched) == set(with_sla), (sorted(set(with_sla) - set(watched)), sorted(set(watched) - set(with_sla)))
    for topic, spec in with_sla.items():
        assert watched[topic] == (spec["priority"], seconds(spec["sla"])), topic
    # And the specs say what the seeds say: critical < 1 s, high < 5 s, normal < 30 s.
    by_priority = {p: t for p, t in watched.values()}
    assert by_priority == {"critical": 1, "high": 5, "normal": 30}
    assert r["WeftSlaCritical"]["labels"]["severity"] == "critical"


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.name)
def test_alerts_watch_this_release_only(values):
    docs = render(values=(values,))
    (rule,) = kinds(docs, "PrometheusRule")
    enabled = {d["metadata"]["labels"]["weft/processor"] for d in kinds(docs, "StatefulSet")}
    for g in rule["spec"]["groups"]:
        for r in g["rules"]:
            assert f'namespace="{NAMESPACE}"' in r["expr"], r["alert"]
            if 'processor=~"' in r["expr"]:
                assert set(regex_names(r["expr"], "processor")) == enabled, r["alert"]


def dashboard() -> dict:
    return json.loads((CHART / "files" / "grafana-dashboard.json").read_text())


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, expr) of every dashboard query, with Grafana's variables replaced by sample values
    (PromQL cannot parse `$__rate_interval`)."""
    out = []
    d = dashboard()
    for p in d["panels"]:
        for t in p.get("targets", []):
            out.append((f'panel "{p["title"]}" {t["refId"]}', t["expr"]))
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.+),\s*([a-z_]+)\)", q)
            assert m, q
            out.append((f"variable {v['name']}", m.group(1)))
    subst = {"$__rate_interval": "5m", "$namespace": "erp", "$processor": ".+", "$tenant": ".*"}
    result = []
    for where, expr in out:
        for k, v in subst.items():
            expr = expr.replace(k, v)
        assert "$" not in expr, (where, expr)
        result.append((where, expr))
    return result


def all_expressions() -> list[dict]:
    exprs = []
    for values in CI_FILES:
        for doc in kinds(render(values=(values,)), "PrometheusRule"):
            for g in doc["spec"]["groups"]:
                for r in g["rules"]:
                    exprs.append({"id": f"{values.name}:{r['alert']}", "expr": r["expr"]})
    exprs += [{"id": f"dashboard {w}", "expr": e} for w, e in dashboard_queries()]
    return exprs


@pytest.fixture(scope="session")
def parsed():
    return run_crcheck({"resources": [], "expressions": all_expressions()})["expressions"]


def test_every_expression_is_valid_promql(parsed):
    bad = [f"{e['id']}: {err}" for e in parsed for err in e["errors"]]
    assert not bad, "\n".join(bad)
    assert len(parsed) > 40
    # The parser does catch errors.
    broken = run_crcheck({"resources": [], "expressions": [{"id": "x", "expr": "sum(rate(weft_consumed_total[5m])"}]})
    assert broken["expressions"][0]["errors"]


def test_the_dashboard_shows_what_the_issue_asks(parsed):
    d = dashboard()
    titles = " | ".join(p["title"] for p in d["panels"])
    for word in ("Consumed", "lag", "Dead letters", "SLA breaches per processor", "SLA breaches per tenant",
                 "Failures per tenant", "Processed per tenant"):
        assert word in titles, word
    assert {v["name"] for v in d["templating"]["list"]} == {"datasource", "namespace", "processor", "tenant"}
    for p in d["panels"]:
        for t in p.get("targets", []):
            assert t["datasource"]["uid"] == "${datasource}"
