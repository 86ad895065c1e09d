"""The transactional outbox relay (`weft outbox relay`) and the database it shares with the sink
processors: off by default; when on, a Deployment whose WEFT_INSTANCE_ID is the pod name, its
settings in its own ConfigMap, the database URL only from an existing Secret (never in a ConfigMap
or a plain value), `weft outbox migrate` first in the provisioning Job, its metrics scraped; the
sinks with sinkDatabase get the same Secret; the registry credentials come as the processors'
(registry.auth.existingSecret); the relay's settings are ones the binary accepts."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import (CHART, CI_FILES, MINIMAL, ROOT, by_name, containers, env_of, kinds, pod_spec,
                      render, render_error)

OUTBOX = CHART / "ci" / "outbox-values.yaml"
RELAY = "weft-outbox-relay"
DB_REF = {"secretKeyRef": {"name": "weft-database", "key": "url"}}
SINKS = {"cypher.erp-sync", "cypher.search-indexer"}
ENABLE = ("outbox.enabled=true", "database.existingSecret=weft-database")


def relay_docs(docs):
    return [d for d in docs if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "outbox-relay"
            or d["metadata"]["name"].startswith(RELAY)]


def database_users(docs):
    """(kind/name, container) of every container that gets WEFT_DATABASE_URL."""
    out = []
    for d in docs:
        if d["kind"] in ("StatefulSet", "Deployment", "Job", "Pod"):
            for c in containers(d):
                if any(e["name"] == "WEFT_DATABASE_URL" for e in c.get("env") or []):
                    out.append((f"{d['kind']}/{d['metadata']['name']}", c["name"]))
    return out


@pytest.mark.parametrize("values", [v for v in CI_FILES if v != OUTBOX], ids=lambda p: p.name)
def test_off_by_default(values):
    docs = render(values=(values,))
    assert not relay_docs(docs)
    assert not database_users(docs)
    job = by_name(docs, "Job", "weft-provisioning")
    assert all(c["args"] != ["outbox", "migrate"] for c in containers(job))


def test_the_relay_deployment():
    docs = render(values=(OUTBOX,))
    d = by_name(docs, "Deployment", RELAY)
    assert d["spec"]["replicas"] == 3
    spec = pod_spec(d)
    (c,) = spec["containers"]
    assert c["name"] == "relay" and c["args"] == ["outbox", "relay"]
    assert c["envFrom"] == [{"configMapRef": {"name": "weft-config"}}, {"configMapRef": {"name": f"{RELAY}-config"}}]
    env = env_of(c)
    # Every replica its own name, the pod's: its claims, its lock, its transactional id.
    assert env["WEFT_INSTANCE_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["WEFT_DATABASE_URL"]["valueFrom"] == DB_REF
    assert env["WEFT_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "weft-kafka-user", "key": "password"}
    assert {"name": "kafka-tls", "mountPath": "/etc/weft/kafka-tls", "readOnly": True} in c["volumeMounts"]
    assert c["ports"] == [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}]
    assert c["startupProbe"]["httpGet"] == {"path": "/health/live", "port": "metrics"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "metrics"}
    assert spec["terminationGracePeriodSeconds"] == 100
    assert spec["enableServiceLinks"] is False
    cm = by_name(docs, "ConfigMap", f"{RELAY}-config")["data"]
    assert cm == {
        "WEFT_OUTBOX_BATCH_SIZE": "100", "WEFT_OUTBOX_INTERVAL": "500ms", "WEFT_OUTBOX_MAX_RETRIES": "3",
        "WEFT_OUTBOX_RETRY_BACKOFF": "5s", "WEFT_OUTBOX_BREAKER_THRESHOLD": "3", "WEFT_OUTBOX_BREAKER_TIMEOUT": "30s",
        "WEFT_OUTBOX_RETENTION": "3d", "WEFT_OUTBOX_SYSTEM": "cypher", "WEFT_METRICS_LISTEN": "0.0.0.0:9464",
        "WEFT_LOG": "info",
    }
    # The Kafka and registry settings are the processors'.
    assert by_name(docs, "ConfigMap", "weft-config")["data"]["WEFT_SECURITY_PROTOCOL"] == "sasl_ssl"


def test_the_defaults_render_with_the_database_only():
    docs = render(sets=ENABLE)
    d = by_name(docs, "Deployment", RELAY)
    assert d["spec"]["replicas"] == 2
    cm = by_name(docs, "ConfigMap", f"{RELAY}-config")["data"]
    assert cm["WEFT_OUTBOX_BATCH_SIZE"] == "50" and cm["WEFT_OUTBOX_INTERVAL"] == "5s"
    assert cm["WEFT_OUTBOX_RETENTION"] == "7d" and "WEFT_OUTBOX_SYSTEM" not in cm
    assert "WEFT_SCHEMA_AUTO_REGISTER" not in cm
    assert by_name(render(sets=ENABLE + ("outbox.autoRegisterSchemas=true",)), "ConfigMap",
                   f"{RELAY}-config")["data"]["WEFT_SCHEMA_AUTO_REGISTER"] == "true"
    # Another key of the Secret.
    env = env_of(pod_spec(by_name(render(sets=ENABLE + ("database.urlKey=uri",)), "Deployment", RELAY))["containers"][0])
    assert env["WEFT_DATABASE_URL"]["valueFrom"] == {"secretKeyRef": {"name": "weft-database", "key": "uri"}}


def test_scraped_reachable_and_disruption_budget():
    docs = render(values=(OUTBOX,))
    selector = by_name(docs, "Deployment", RELAY)["spec"]["selector"]["matchLabels"]
    svc = by_name(docs, "Service", RELAY)
    assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"] is True
    assert svc["spec"]["selector"] == selector and svc["spec"]["ports"][0]["name"] == "metrics"
    assert by_name(docs, "PodDisruptionBudget", RELAY)["spec"]["selector"]["matchLabels"] == selector
    np = by_name(docs, "NetworkPolicy", RELAY)
    assert np["spec"]["podSelector"]["matchLabels"] == selector
    assert np["spec"]["ingress"][0]["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    # Its own ServiceMonitor selects its Service only; the processors' one does not select it.
    sm = by_name(docs, "ServiceMonitor", RELAY)
    services = kinds(docs, "Service")
    picked = [s["metadata"]["name"] for s in services
              if sm["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
    assert picked == [RELAY]
    processors = by_name(docs, "ServiceMonitor", "weft-processors")
    assert RELAY not in [s["metadata"]["name"] for s in services
                         if processors["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
    assert not kinds(render(values=(OUTBOX,), apis=()), "ServiceMonitor")


def test_the_provisioning_job_migrates_first():
    docs = render(values=(OUTBOX,))
    spec = pod_spec(by_name(docs, "Job", "weft-provisioning"))
    steps = [(c["name"], c["args"]) for c in spec["initContainers"]] + [(c["name"], c["args"]) for c in spec["containers"]]
    assert steps == [("database", ["outbox", "migrate"]), ("topics", ["topics", "apply"]),
                     ("registry", ["registry", "serve"]), ("schemas", ["schemas", "register"])]
    users = database_users(docs)
    assert ("Job/weft-provisioning", "database") in users
    assert [u for u in users if u[0] == "Job/weft-provisioning"] == [("Job/weft-provisioning", "database")]
    # Off: no migration; only topics: the migration, then topics as the main container.
    job = by_name(render(values=(OUTBOX,), sets=("provisioning.database=false",)), "Job", "weft-provisioning")
    assert [c["name"] for c in containers(job)] == ["topics", "registry", "schemas"]
    spec = pod_spec(by_name(render(values=(OUTBOX,), sets=("provisioning.schemas=false",)), "Job", "weft-provisioning"))
    assert [c["name"] for c in spec["initContainers"]] == ["database"]
    assert [c["args"] for c in spec["containers"]] == [["topics", "apply"]]
    spec = pod_spec(by_name(render(values=(OUTBOX,), sets=("provisioning.schemas=false", "provisioning.topics=false")),
                            "Job", "weft-provisioning"))
    assert "initContainers" not in spec and spec["containers"][0]["args"] == ["outbox", "migrate"]
    # A database for the sinks alone is migrated too.
    docs = render(sets=("database.existingSecret=weft-database", "processors.cypher\\.erp-sync.sinkDatabase=true"))
    assert not relay_docs(docs)
    assert ("Job/weft-provisioning", "database") in database_users(docs)


def test_sinks_get_the_database_only_with_sink_database():
    docs = render(values=(OUTBOX,))
    users = {u for u in database_users(docs) if u[0].startswith("StatefulSet/")}
    assert users == {(f"StatefulSet/weft-{n.replace('.', '-')}", "processor") for n in SINKS}
    for n in SINKS:
        sts = by_name(docs, "StatefulSet", f"weft-{n.replace('.', '-')}")
        assert env_of(pod_spec(sts)["containers"][0])["WEFT_DATABASE_URL"]["valueFrom"] == DB_REF
    # One sink only.
    docs = render(sets=("database.existingSecret=weft-database", "processors.cypher\\.search-indexer.sinkDatabase=true"))
    assert {u for u in database_users(docs) if u[0].startswith("StatefulSet/")} == \
        {("StatefulSet/weft-cypher-search-indexer", "processor")}
    # Only the sinks have the setting.
    msg = render_error(sets=("database.existingSecret=weft-database", "processors.cypher\\.credit-worker.sinkDatabase=true"))
    assert "/processors/cypher.credit-worker" in msg and "'sinkDatabase' not allowed" in msg, msg
    msg = render_error(sets=("processorDefaults.sinkDatabase=true",))
    assert "'sinkDatabase' not allowed" in msg, msg


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.name)
def test_the_database_url_never_in_a_configmap(values):
    for cm in kinds(render(values=(values,)), "ConfigMap"):
        data = json.dumps(cm.get("data", {}))
        assert "DATABASE_URL" not in data and "postgres://" not in data, cm["metadata"]["name"]


def test_refused_without_the_secret_or_with_a_plain_url():
    msg = render_error(sets=("outbox.enabled=true",))
    assert "database.existingSecret is required" in msg, msg
    msg = render_error(sets=("processors.cypher\\.erp-sync.sinkDatabase=true",))
    assert "database.existingSecret is required" in msg, msg
    # A disabled sink does not need it.
    render(sets=("processors.cypher\\.erp-sync.sinkDatabase=true", "processors.cypher\\.erp-sync.enabled=false"))
    for where in ("outbox.extraEnv", "processorDefaults.extraEnv", "provisioning.extraEnv",
                  "processors.cypher\\.erp-sync.extraEnv"):
        for name in ("WEFT_DATABASE_URL", "DATABASE_URL"):
            msg = render_error(sets=ENABLE + (f"{where}[0].name={name}", f"{where}[0].value=postgres://u:pw@db/erp"))
            assert "as a plain value is refused" in msg and name in msg, msg
    msg = render_error(sets=("outbox.interval=fast",) + ENABLE)
    assert "/outbox/interval" in msg, msg


REGISTRY_AUTH = ("WEFT_REGISTRY_USERNAME", "WEFT_REGISTRY_PASSWORD")


def registry_env(doc: dict, container: str) -> dict:
    """The registry credentials' env entries of one container of a workload."""
    (c,) = [c for c in containers(doc) if c["name"] == container]
    return {k: v for k, v in env_of(c).items() if k in REGISTRY_AUTH}


def test_registry_credentials_from_the_secret():
    """The relay gets the registry credentials exactly as the processors do (weft.secretEnv: from
    registry.auth.existingSecret through secretKeyRef), with the built-in registry's users file or
    an external registry; without existingSecret, none."""
    cases = [
        (("registry.auth.usersSecret=weft-registry-users", "registry.auth.existingSecret=weft-registry-client"),
         "weft-registry-client", "username", "password"),
        (("registry.enabled=false", "registry.externalUrl=https://sr.example.com",
          "registry.auth.existingSecret=weft-registry-basic-auth", "registry.auth.usernameKey=key",
          "registry.auth.passwordKey=secret"),
         "weft-registry-basic-auth", "key", "secret"),
        (("registry.auth.existingSecret=weft-registry-client",), "weft-registry-client", "username", "password"),
    ]
    for sets, secret, user_key, password_key in cases:
        docs = render(sets=ENABLE + sets)
        relay = registry_env(by_name(docs, "Deployment", RELAY), "relay")
        assert relay == {
            "WEFT_REGISTRY_USERNAME": {"name": "WEFT_REGISTRY_USERNAME",
                                       "valueFrom": {"secretKeyRef": {"name": secret, "key": user_key}}},
            "WEFT_REGISTRY_PASSWORD": {"name": "WEFT_REGISTRY_PASSWORD",
                                       "valueFrom": {"secretKeyRef": {"name": secret, "key": password_key}}},
        }, sets
        # The same entries as every processor's.
        for sts in kinds(docs, "StatefulSet"):
            assert registry_env(sts, "processor") == relay, (sets, sts["metadata"]["name"])
        # No credential in any ConfigMap.
        for cm in kinds(docs, "ConfigMap"):
            assert not set(cm.get("data") or {}) & set(REGISTRY_AUTH), cm["metadata"]["name"]
    # An open registry, an external one without credentials: none sent.
    for sets in ((), ("registry.enabled=false", "registry.externalUrl=http://sr.example.com")):
        assert registry_env(by_name(render(sets=ENABLE + sets), "Deployment", RELAY), "relay") == {}, sets
    # Changing the Secret rolls the relay.
    def secret_refs(sets):
        d = by_name(render(sets=ENABLE + sets), "Deployment", RELAY)
        return d["spec"]["template"]["metadata"]["annotations"]["checksum/secret-refs"]
    assert secret_refs(("registry.auth.existingSecret=a",)) != secret_refs(("registry.auth.existingSecret=b",))


def test_relay_settings_roll_the_relay_only():
    def sums(docs):
        return {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["annotations"]
                for d in kinds(docs, "StatefulSet") + kinds(docs, "Deployment")}
    base = sums(render(values=(OUTBOX,)))
    changed = sums(render(values=(OUTBOX,), sets=("outbox.batchSize=10",)))
    for name in base:
        assert (changed[name] == base[name]) != (name == RELAY), name
    changed = sums(render(values=(OUTBOX,), sets=("database.existingSecret=other",)))
    assert changed[RELAY]["checksum/secret-refs"] != base[RELAY]["checksum/secret-refs"]


def test_the_relay_reads_every_setting_the_chart_sets():
    """Every variable of the relay's ConfigMap is one `weft outbox relay` reads
    (crates/weft-cli/src/outbox.rs, WEFT_LOG in lib.rs): a misspelt name would be ignored silently."""
    source = "".join((ROOT / "crates/weft-cli/src" / f).read_text() for f in ("outbox.rs", "lib.rs"))
    docs = render(values=(OUTBOX,), sets=("outbox.autoRegisterSchemas=true",
                                          "registry.auth.existingSecret=weft-registry-client"))
    cm = by_name(docs, "ConfigMap", f"{RELAY}-config")
    for key in cm["data"]:
        assert f'"{key}"' in source, f"{key} is not read by `weft outbox relay`"
    # And every variable the chart puts in its container's env (the Kafka ones from the shared
    # args.rs), outbox.extraEnv (the user's own, e.g. RUST_BACKTRACE) aside.
    source += (ROOT / "crates/weft-cli/src/args.rs").read_text()
    env = env_of(pod_spec(by_name(docs, "Deployment", RELAY))["containers"][0])
    extra = {e["name"] for e in yaml.safe_load(OUTBOX.read_text())["outbox"].get("extraEnv") or []}
    assert set(REGISTRY_AUTH) <= set(env), sorted(env)
    for key in set(env) - extra:
        assert f'"{key}"' in source, f"{key} is not read by `weft outbox relay`"


# --- the binary with the rendered settings ----------------------------------------------------------

def weft_binary() -> Path | None:
    if os.environ.get("WEFT_BIN"):
        return Path(os.environ["WEFT_BIN"])
    found = [p for p in (ROOT / "target/release/weft", ROOT / "target/debug/weft") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return 0, ""


def test_the_binary_accepts_the_rendered_settings(tmp_path):
    """`weft outbox relay` with the relay ConfigMap's settings (the listen address moved to a free
    local port), no reachable database or Kafka: it parses them (a setting it cannot parse exits 1
    before serving), serves /health/live, answers 503 on /health/ready (not connected), and its
    /metrics has the relay's families."""
    binary = weft_binary()
    if binary is None:
        pytest.skip("no weft binary (target/debug/weft or target/release/weft)")
    copy = tmp_path / "weft"
    shutil.copy2(binary, copy)
    data = by_name(render(values=(OUTBOX,), sets=("outbox.autoRegisterSchemas=true",)), "ConfigMap",
                   f"{RELAY}-config")["data"]
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **data,
           "WEFT_METRICS_LISTEN": f"127.0.0.1:{port}", "WEFT_INSTANCE_ID": "helm-check-relay-0",
           "WEFT_DATABASE_URL": "postgres://weft@127.0.0.1:9/none", "WEFT_BOOTSTRAP_SERVERS": "127.0.0.1:9",
           "WEFT_REGISTRY_URL": "http://127.0.0.1:9", "WEFT_AVRO_DIR": str(ROOT / "avro"),
           "WEFT_TOPICS_DIR": str(ROOT / "topics"), "WEFT_LOG": "warn",
           # What weft.secretEnv gives it with registry.auth.existingSecret.
           "WEFT_REGISTRY_USERNAME": "relay", "WEFT_REGISTRY_PASSWORD": "secret"}
    p = subprocess.Popen([str(copy), "outbox", "relay"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while get(base + "/health/live")[0] != 200:
            assert p.poll() is None, f"weft outbox relay exited {p.returncode}: {p.stdout.read()}"
            assert time.monotonic() < deadline, "no /health/live within 30 s"
            time.sleep(0.2)
        assert get(base + "/health/ready")[0] == 503
        families = set(re.findall(r"^# TYPE (\S+) ", get(base + "/metrics")[1], re.M))
        assert {"weft_outbox_published_total", "weft_outbox_backlog_rows", "weft_outbox_oldest_pending_seconds",
                "weft_outbox_circuit_open"} <= families, families
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait()
