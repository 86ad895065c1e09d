"""What the chart promises, asserted on `helm template` output: stable unique transactional ids,
replicas never above the input partitions, the provisioning hook's order and safety, checksums that
roll pods on config changes, restricted security, probes, grace period, resilience, autoscaling and
monitoring gated on their APIs, credentials from existing Secrets."""

from __future__ import annotations

import json
import math

import pytest

from conftest import (CHART, CI_FILES, MINIMAL, NAMESPACE, RELEASE, by_name, containers, env_of, kinds,
                      load_specs, pod_spec, render, render_error)

PRODUCTION = CHART / "ci" / "production-values.yaml"
KEDA = CHART / "ci" / "keda-values.yaml"
HPA = CHART / "ci" / "hpa-values.yaml"


def resource_name(processor: str, release: str = RELEASE) -> str:
    return f"{release}-{processor.replace('.', '-')}" if release != "weft" else f"weft-{processor.replace('.', '-')}"


def statefulsets(docs):
    return {d["metadata"]["labels"]["weft/processor"]: d for d in kinds(docs, "StatefulSet")}


def scaled_max(docs, processor):
    for d in kinds(docs, "ScaledObject") + kinds(docs, "HorizontalPodAutoscaler"):
        if d["metadata"]["labels"]["weft/processor"] == processor:
            return d["spec"].get("maxReplicaCount", d["spec"].get("maxReplicas"))
    return None


# --- processors and transactional ids ---------------------------------------------------------------

@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.name)
def test_one_statefulset_per_enabled_processor(values, topology):
    import yaml
    given = yaml.safe_load(values.read_text()).get("processors", {})
    enabled = {n for n in topology["processors"] if given.get(n, {}).get("enabled", True)}
    sts = statefulsets(render(values=(values,)))
    assert set(sts) == enabled
    for name, d in sts.items():
        assert d["metadata"]["name"] == resource_name(name)
        c = pod_spec(d)["containers"][0]
        assert c["args"] == ["run", name], "one processor per workload"


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.name)
def test_transactional_ids_are_unique_per_replica_and_stable(values):
    """transactional.id = <processor>-<WEFT_INSTANCE_ID>; WEFT_INSTANCE_ID = the pod name, which for a
    StatefulSet is <name>-<ordinal>: the same after a restart, different for every replica."""
    ids = []
    for release in (RELEASE, "weft-canary"):
        docs = render(values=(values,), release=release)
        for processor, d in statefulsets(docs).items():
            assert d["kind"] == "StatefulSet"
            env = env_of(pod_spec(d)["containers"][0])
            assert env["WEFT_INSTANCE_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
            replicas = d["spec"].get("replicas") or scaled_max(docs, processor)
            assert replicas, f"{processor}: neither replicas nor an autoscaler's maximum"
            ids += [f"{processor}-{d['metadata']['name']}-{ordinal}" for ordinal in range(replicas)]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    # Two releases in one namespace never share an id.
    assert not [i for i in ids if ids.count(i) > 1]


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.name)
def test_static_membership_on_by_default(values):
    """WEFT_STATIC_MEMBERSHIP=true in every processor: group.instance.id = WEFT_INSTANCE_ID = the
    StatefulSet's stable pod name, so a replica back within the session timeout keeps its partitions
    without a rebalance. The value is "true"/"false", what `weft run`'s clap bool parser accepts."""
    for processor, d in statefulsets(render(values=(values,))).items():
        env = env_of(pod_spec(d)["containers"][0])
        assert env["WEFT_STATIC_MEMBERSHIP"] == {"name": "WEFT_STATIC_MEMBERSHIP", "value": "true"}, processor
        assert env["WEFT_INSTANCE_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}, processor


def test_static_membership_can_be_turned_off():
    erp = "processors.cypher\\.erp-sync"
    # Off for every processor.
    for processor, d in statefulsets(render(sets=("processorDefaults.staticMembership=false",))).items():
        assert env_of(pod_spec(d)["containers"][0])["WEFT_STATIC_MEMBERSHIP"]["value"] == "false", processor
    # Off for one processor (a false override wins over the default's true), and the reverse.
    for default, own in ((True, False), (False, True)):
        sts = statefulsets(render(sets=(f"processorDefaults.staticMembership={str(default).lower()}",
                                        f"{erp}.staticMembership={str(own).lower()}")))
        for processor, d in sts.items():
            want = own if processor == "cypher.erp-sync" else default
            got = env_of(pod_spec(d)["containers"][0])["WEFT_STATIC_MEMBERSHIP"]["value"]
            assert got == str(want).lower(), (default, own, processor)
    # Only a boolean: the schema refuses anything else, naming the key.
    msg = render_error(sets=("processorDefaults.staticMembership=yes",))
    assert "/processorDefaults/staticMembership" in msg and "boolean" in msg, msg


def test_topology_max_replicas_is_the_largest_input_partition_count(topology):
    specs = load_specs()
    for name, p in topology["processors"].items():
        assert p["maxReplicas"] == max(specs[t]["partitions"] for t in p["inputs"]), name


def test_replicas_above_the_partitions_are_refused(topology):
    for name, p in topology["processors"].items():
        key = name.replace(".", "\\.")
        cap = p["maxReplicas"]
        render(sets=(f"processors.{key}.replicas={cap}",))  # the cap itself renders
        msg = render_error(sets=(f"processors.{key}.replicas={cap + 1}",))
        assert f"processors.{name}.replicas is {cap + 1}" in msg and f"at most {cap} partitions" in msg, msg
        for t in p["inputs"]:
            assert t in msg
    b2b = "processors.b2b\\.notification-worker"
    msg = render_error(sets=("autoscaling.mode=keda", f"{b2b}.scaling.maxReplicas=7"))
    assert "scaling.maxReplicas is 7" in msg and "at most 6 partitions" in msg, msg
    msg = render_error(sets=("processorDefaults.replicas=7",))
    assert "at most 3 partitions" in msg or "at most 6 partitions" in msg, msg


def test_per_processor_overrides_win_even_when_false_or_zero():
    erp = "processors.cypher\\.erp-sync"
    docs = render(sets=(f"{erp}.pdb.enabled=false", f"{erp}.breaker.window=0", f"{erp}.replicas=1",
                        "processorDefaults.autoRegisterSchemas=true", f"{erp}.autoRegisterSchemas=false"))
    pdbs = {p["metadata"]["name"] for p in kinds(docs, "PodDisruptionBudget")}
    assert "weft-cypher-erp-sync" not in pdbs and "weft-cypher-catalog-worker" in pdbs
    erp_cm = by_name(docs, "ConfigMap", "weft-cypher-erp-sync-config")["data"]
    assert erp_cm["WEFT_BREAKER_WINDOW"] == "0" and "WEFT_SCHEMA_AUTO_REGISTER" not in erp_cm
    assert by_name(docs, "ConfigMap", "weft-cypher-catalog-worker-config")["data"]["WEFT_SCHEMA_AUTO_REGISTER"] == "true"
    assert by_name(docs, "StatefulSet", "weft-cypher-erp-sync")["spec"]["replicas"] == 1
    # Nested maps merge key by key: one resource limit overridden, the requests kept.
    sts = by_name(render(sets=(f"{erp}.resources.limits.memory=1Gi",)), "StatefulSet", "weft-cypher-erp-sync")
    assert pod_spec(sts)["containers"][0]["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}}


def test_values_entries_are_optional_and_name_processors_of_the_binary(topology, chart_values):
    """values.yaml may list any processor of files/topology.yaml (none is required); the schema knows
    every one of them (values_schema.py derives it from the topology) and requires no entry."""
    assert set(chart_values["processors"]) <= set(topology["processors"])
    schema = json.loads((CHART / "values.schema.json").read_text())
    processors = schema["properties"]["processors"]
    assert set(processors["properties"]) == set(topology["processors"])
    assert "required" not in processors
    assert not [n for n, p in processors["properties"].items() if "required" in p]


def processor_docs(docs, processor):
    return sorted((d for d in docs if d["metadata"].get("labels", {}).get("weft/processor") == processor),
                  key=lambda d: (d["kind"], d["metadata"]["name"]))


@pytest.mark.parametrize("helm", ["helm3", "helm4"])
def test_a_processor_without_a_values_entry_runs_with_the_defaults(helm, tmp_path):
    """A processor of files/topology.yaml missing from .Values.processors (here: its entry deleted
    with null) is deployed with processorDefaults, exactly as with `enabled: true`; one whose entry has
    extra settings (viscount's stockAlerts) renders too, without them."""
    import yaml
    plain, extras = "b2b.notification-worker", "viscount.inventory-service"
    dropped = tmp_path / "dropped-values.yaml"
    dropped.write_text(yaml.safe_dump({"processors": {plain: None, extras: None}}))
    docs = render(values=(MINIMAL, dropped), helm=helm)
    sts = statefulsets(docs)
    assert plain in sts and extras in sts
    assert pod_spec(sts[plain])["containers"][0]["args"] == ["run", plain]
    assert processor_docs(docs, plain) == processor_docs(render(helm=helm), plain)
    assert {d["kind"] for d in processor_docs(docs, plain)} >= {"StatefulSet", "ConfigMap", "Service",
                                                                 "PodDisruptionBudget"}
    cm = by_name(docs, "ConfigMap", resource_name(extras) + "-config")["data"]
    assert "WEFT_STOCK_WARNING" not in cm
    # An entry without `enabled` only overrides; `enabled: false` still turns one off.
    only = tmp_path / "override-values.yaml"
    only.write_text(yaml.safe_dump({"processors": {plain: {"replicas": 1}, extras: {"enabled": False}}}))
    sts = statefulsets(render(values=(MINIMAL, dropped, only), helm=helm))
    assert sts[plain]["spec"]["replicas"] == 1 and extras not in sts


def test_a_processor_new_in_the_topology_needs_no_values_edit(tmp_path, topology):
    """What `scripts/helm/topology.py --write` does for a new processor, on a copy of the chart: the
    processor appears in files/topology.yaml only (not in values.yaml, not in values.schema.json) and
    gets its StatefulSet, ConfigMap, Service and PodDisruptionBudget with processorDefaults."""
    import shutil
    import subprocess

    import yaml
    from conftest import HELMS
    chart = tmp_path / "weft"
    shutil.copytree(CHART, chart)
    new = "b2b.refund-worker"
    generated = (chart / "files" / "topology.yaml").read_text()
    header = "".join(line + "\n" for line in generated.splitlines() if line.startswith("#"))
    topo = yaml.safe_load(generated)
    spec = json.loads(json.dumps(topo["processors"]["b2b.inventory-worker"]))
    spec["deadLetterTopic"] = f"{new}.dlq"
    spec["retryTopics"] = [r.replace("b2b.inventory-worker", new) for r in spec["retryTopics"]]
    topo["processors"][new] = spec
    (chart / "files" / "topology.yaml").write_text(header + yaml.safe_dump(topo, sort_keys=True))
    assert new not in yaml.safe_load((chart / "values.yaml").read_text())["processors"]
    assert new not in json.loads((chart / "values.schema.json").read_text())["properties"]["processors"]["properties"]
    for helm in sorted(HELMS):
        done = subprocess.run([HELMS[helm], "template", RELEASE, str(chart), "--namespace", NAMESPACE,
                               "-f", str(MINIMAL), "--kube-version", "1.37.0"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        docs = [d for d in yaml.safe_load_all(done.stdout) if d]
        sts = statefulsets(docs)
        assert set(sts) == set(topology["processors"]) | {new}, helm
        d = sts[new]
        assert d["metadata"]["name"] == resource_name(new)
        assert d["spec"]["replicas"] == 2  # processorDefaults.replicas
        assert pod_spec(d)["containers"][0]["args"] == ["run", new]
        assert {x["kind"] for x in processor_docs(docs, new)} >= {"StatefulSet", "ConfigMap", "Service",
                                                                   "PodDisruptionBudget"}


# --- provisioning hook ------------------------------------------------------------------------------

def hooks(docs, event="pre-install"):
    out = []
    for d in docs:
        ann = d["metadata"].get("annotations", {})
        if event in ann.get("helm.sh/hook", "").split(","):
            out.append(d)
    # Helm runs hooks by weight, then by name.
    return sorted(out, key=lambda d: (int(ann_of(d)["helm.sh/hook-weight"]), d["metadata"]["name"]))


def ann_of(d):
    return d["metadata"].get("annotations", {})


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.name)
def test_hook_order_serviceaccount_then_configmap_then_job(values):
    docs = render(values=(values,))
    for event in ("pre-install", "pre-upgrade"):
        order = [(d["kind"], d["metadata"]["name"]) for d in hooks(docs, event)]
        assert order == [("ServiceAccount", "weft-provisioning"), ("ConfigMap", "weft-provisioning"),
                         ("Job", "weft-provisioning")], order
    for d in hooks(docs):
        assert ann_of(d)["helm.sh/hook-delete-policy"] == "before-hook-creation", d["kind"]
    job = by_name(docs, "Job", "weft-provisioning")
    assert job["spec"]["ttlSecondsAfterFinished"] >= 60
    spec = pod_spec(job)
    # The Job uses the hook ServiceAccount and ConfigMap, never the release's (not there yet).
    assert spec["serviceAccountName"] == "weft-provisioning"
    assert spec["automountServiceAccountToken"] is False
    for c in containers(job):
        assert c["envFrom"] == [{"configMapRef": {"name": "weft-provisioning"}}]
    assert spec["restartPolicy"] == "Never"


def test_the_job_runs_the_ci_commands_in_order_with_its_own_registry():
    job = by_name(render(), "Job", "weft-provisioning")
    spec = pod_spec(job)
    steps = [(c["name"], c["args"], c.get("restartPolicy")) for c in spec["initContainers"]]
    assert steps == [("topics", ["topics", "apply"], None), ("registry", ["registry", "serve"], "Always")]
    registry = spec["initContainers"][1]
    assert registry["startupProbe"]["httpGet"]["path"] == "/"
    assert env_of(registry)["WEFT_REGISTRY_LISTEN"]["value"] == "127.0.0.1:8081"
    assert env_of(registry)["WEFT_REGISTRY_STORE"]["value"] == "kafka"
    assert [c["args"] for c in spec["containers"]] == [["schemas", "register"]]
    cm = by_name(render(), "ConfigMap", "weft-provisioning")
    assert cm["data"]["WEFT_REGISTRY_URL"] == "http://127.0.0.1:8081"


def test_the_job_with_an_external_registry_or_topics_only():
    docs = render(values=(HPA,))
    spec = pod_spec(by_name(docs, "Job", "weft-provisioning"))
    assert [c["name"] for c in spec["initContainers"]] == ["topics"]
    assert by_name(docs, "ConfigMap", "weft-provisioning")["data"]["WEFT_REGISTRY_URL"] == "https://schema-registry.example.com"
    assert env_of(spec["containers"][0])["WEFT_REGISTRY_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "weft-registry-basic-auth"
    spec = pod_spec(by_name(render(sets=("provisioning.schemas=false",)), "Job", "weft-provisioning"))
    assert "initContainers" not in spec and spec["containers"][0]["args"] == ["topics", "apply"]
    assert not kinds(render(sets=("provisioning.enabled=false",)), "Job")


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.name)
def test_provisioning_never_deletes_topics(values):
    docs = render(values=(values,))
    text = json.dumps(docs)
    assert "--allow-delete" not in text
    assert by_name(docs, "ConfigMap", "weft-provisioning")["data"]["WEFT_ALLOW_DELETE"] == "false"
    msg = render_error(sets=("provisioning.extraEnv[0].name=WEFT_ALLOW_DELETE", "provisioning.extraEnv[0].value=true"))
    assert "WEFT_ALLOW_DELETE is refused" in msg, msg


# --- checksums --------------------------------------------------------------------------------------

def checksums(docs):
    out = {}
    for d in kinds(docs, "StatefulSet") + kinds(docs, "Deployment"):
        out[d["metadata"]["name"]] = {k: v for k, v in d["spec"]["template"]["metadata"]["annotations"].items()
                                      if k.startswith("checksum/")}
    return out


def test_checksums_change_when_config_changes():
    base = checksums(render())
    assert all(c.get("checksum/config") for c in base.values())
    # Shared Kafka settings: every pod rolls.
    changed = checksums(render(sets=("kafka.options.socket\\.keepalive\\.enable=true",)))
    for name in base:
        assert changed[name]["checksum/config"] != base[name]["checksum/config"], name
    # One processor's own setting: only that processor rolls.
    changed = checksums(render(sets=("processors.cypher\\.erp-sync.commitInterval=250ms",)))
    for name in base:
        same = changed[name] == base[name]
        assert same != (name == "weft-cypher-erp-sync"), name
    # Registry settings roll the registry only.
    changed = checksums(render(sets=("registry.timeout=45s",)))
    for name in base:
        assert (changed[name] == base[name]) != (name == "weft-registry"), name
    # Another Secret (or key) rolls every pod.
    changed = checksums(render(sets=("kafka.sasl.enabled=true", "kafka.sasl.existingSecret=kafka-user")))
    for name in base:
        assert changed[name]["checksum/secret-refs"] != base[name]["checksum/secret-refs"], name
    # The same values give the same checksums (no timestamps or random values).
    assert checksums(render(release=RELEASE)) == base


def test_the_checksummed_config_is_what_the_pods_read():
    docs = render()
    sts = by_name(docs, "StatefulSet", "weft-cypher-erp-sync")
    refs = [e["configMapRef"]["name"] for e in pod_spec(sts)["containers"][0]["envFrom"]]
    assert refs == ["weft-config", "weft-cypher-erp-sync-config"]
    cm = by_name(docs, "ConfigMap", "weft-cypher-erp-sync-config")["data"]
    assert cm["WEFT_COMMIT_INTERVAL"] == "100ms" and cm["WEFT_METRICS_LISTEN"] == "0.0.0.0:9464"


# --- security ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.name)
def test_restricted_security_by_default(values):
    docs = render(values=(values,))
    workloads = [d for d in docs if d["kind"] in ("StatefulSet", "Deployment", "Job", "Pod")]
    assert workloads
    for d in workloads:
        spec = pod_spec(d)
        where = f"{d['kind']}/{d['metadata']['name']}"
        assert spec["automountServiceAccountToken"] is False, where
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["securityContext"]["runAsUser"] != 0, where
        for c in containers(d):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, (where, c["name"])
            assert sc["allowPrivilegeEscalation"] is False, (where, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (where, c["name"])
            assert "add" not in sc["capabilities"], (where, c["name"])
            assert "privileged" not in sc or sc["privileged"] is False
    for sa in kinds(docs, "ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False
    # No credentials in ConfigMaps: SASL and registry secrets come through secretKeyRef only.
    for cm in kinds(docs, "ConfigMap"):
        assert not any("PASSWORD" in k or "USERNAME" in k for k in cm.get("data", {})), cm["metadata"]["name"]


def test_kafka_sasl_and_tls_from_existing_secrets():
    docs = render(values=(PRODUCTION,))
    data = by_name(docs, "ConfigMap", "weft-config")["data"]
    assert data["WEFT_SECURITY_PROTOCOL"] == "sasl_ssl" and data["WEFT_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert data["WEFT_SSL_CA_LOCATION"] == "/etc/weft/kafka-tls/ca.crt"
    assert data["WEFT_SSL_CERTIFICATE_LOCATION"] == "/etc/weft/kafka-tls/tls.crt"
    assert data["WEFT_SSL_KEY_LOCATION"] == "/etc/weft/kafka-tls/tls.key"
    assert data["WEFT_KAFKA_OPTIONS"] == "client.rack=eu-west-1a,socket.keepalive.enable=true"
    for d in [d for d in docs if d["kind"] in ("StatefulSet", "Deployment", "Job")]:
        spec = pod_spec(d)
        assert {"name": "kafka-tls", "secret": {"secretName": "weft-kafka-tls", "defaultMode": 0o440}} in spec["volumes"]
        for c in containers(d):
            env = env_of(c)
            assert env["WEFT_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "weft-kafka-user", "key": "password"}
            assert env["WEFT_SASL_USERNAME"]["valueFrom"]["secretKeyRef"] == {"name": "weft-kafka-user", "key": "username"}
            assert {"name": "kafka-tls", "mountPath": "/etc/weft/kafka-tls", "readOnly": True} in c["volumeMounts"]
    msg = render_error(sets=("kafka.sasl.enabled=true",))
    assert "kafka.sasl.existingSecret is required" in msg, msg


def test_registry_basic_auth_from_an_existing_secret():
    docs = render(values=(HPA,))
    for d in kinds(docs, "StatefulSet") + kinds(docs, "Pod"):
        for c in containers(d):
            if c["name"] in ("processor", "subjects"):
                ref = env_of(c)["WEFT_REGISTRY_PASSWORD"]["valueFrom"]["secretKeyRef"]
                assert ref == {"name": "weft-registry-basic-auth", "key": "password"}
    assert not kinds(docs, "Deployment"), "registry.enabled=false: no built-in registry"


USERS = ("registry.auth.usersSecret=weft-registry-users", "registry.auth.existingSecret=weft-registry-client")


def test_the_registry_authenticates_with_a_users_file_from_an_existing_secret():
    docs = render(sets=USERS)
    spec = pod_spec(by_name(docs, "Deployment", "weft-registry"))
    reg = spec["containers"][0]
    assert env_of(reg)["WEFT_REGISTRY_USERS_FILE"] == {"name": "WEFT_REGISTRY_USERS_FILE",
                                                        "value": "/etc/weft/registry-users/users.yaml"}
    assert {"name": "registry-users", "mountPath": "/etc/weft/registry-users", "readOnly": True} in reg["volumeMounts"]
    assert {"name": "registry-users", "secret": {"secretName": "weft-registry-users", "defaultMode": 0o440,
                                                 "items": [{"key": "users.yaml", "path": "users.yaml"}]}} in spec["volumes"]
    # Every path but /metrics needs credentials once there is a users file.
    assert {reg[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")} == {"/metrics"}
    # The release's clients authenticate with existingSecret.
    for d in kinds(docs, "StatefulSet") + kinds(docs, "Pod"):
        for c in containers(d):
            if c["name"] in ("processor", "subjects"):
                env = env_of(c)
                assert env["WEFT_REGISTRY_USERNAME"]["valueFrom"]["secretKeyRef"] == {"name": "weft-registry-client", "key": "username"}
                assert env["WEFT_REGISTRY_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "weft-registry-client", "key": "password"}
    # The provisioning Job's own registry on 127.0.0.1 stays open: nothing outside its pod reaches it.
    job = pod_spec(by_name(docs, "Job", "weft-provisioning"))
    sidecar = next(c for c in job["initContainers"] if c["name"] == "registry")
    assert "WEFT_REGISTRY_USERS_FILE" not in env_of(sidecar) and sidecar["startupProbe"]["httpGet"]["path"] == "/"
    assert all(v["name"] != "registry-users" for v in job["volumes"])
    # Another key of the Secret.
    spec = pod_spec(by_name(render(sets=USERS + ("registry.auth.usersKey=registry.yaml",)), "Deployment", "weft-registry"))
    assert env_of(spec["containers"][0])["WEFT_REGISTRY_USERS_FILE"]["value"] == "/etc/weft/registry-users/registry.yaml"
    assert next(v for v in spec["volumes"] if v["name"] == "registry-users")["secret"]["items"] == \
        [{"key": "registry.yaml", "path": "registry.yaml"}]
    # Naming the Secret rolls the registry (and the clients, whose credentials come with it).
    base, changed = checksums(render(sets=USERS[1:])), checksums(render(sets=USERS))
    assert base["weft-registry"]["checksum/secret-refs"] != changed["weft-registry"]["checksum/secret-refs"]
    # Without a users file the registry is open: no mount, no variable.
    reg = pod_spec(by_name(render(), "Deployment", "weft-registry"))["containers"][0]
    assert "WEFT_REGISTRY_USERS_FILE" not in env_of(reg)
    assert all(m["name"] != "registry-users" for m in reg["volumeMounts"])
    # The production example runs it.
    reg = pod_spec(by_name(render(values=(PRODUCTION,)), "Deployment", "weft-registry"))["containers"][0]
    assert env_of(reg)["WEFT_REGISTRY_USERS_FILE"]["value"] == "/etc/weft/registry-users/users.yaml"


def test_a_users_file_needs_client_credentials_and_the_built_in_registry():
    msg = render_error(sets=("registry.auth.usersSecret=weft-registry-users",))
    assert "registry.auth.existingSecret is required with registry.auth.usersSecret" in msg, msg
    msg = render_error(values=(HPA,), sets=("registry.auth.usersSecret=weft-registry-users",))
    assert "registry.auth.usersSecret" in msg and "registry.enabled is false" in msg, msg
    msg = render_error(sets=USERS + ("registry.auth.usersKey=",))
    assert "usersKey" in msg, msg


def test_the_registry_is_only_reachable_from_the_release():
    docs = render()
    np = by_name(docs, "NetworkPolicy", "weft-registry")
    peers = np["spec"]["ingress"][0]["from"]
    assert peers == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "weft", "app.kubernetes.io/instance": RELEASE}}}]
    for d in kinds(docs, "StatefulSet") + kinds(docs, "Job") + kinds(docs, "Pod"):
        labels = (d["spec"]["template"]["metadata"]["labels"] if d["kind"] != "Pod" else d["metadata"]["labels"])
        assert labels["app.kubernetes.io/instance"] == RELEASE and labels["app.kubernetes.io/name"] == "weft"


# --- probes, ports, grace ---------------------------------------------------------------------------

def test_probes_and_metrics_port():
    docs = render()
    for d in kinds(docs, "StatefulSet"):
        c = pod_spec(d)["containers"][0]
        assert c["ports"] == [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}]
        assert c["startupProbe"]["httpGet"] == {"path": "/health/live", "port": "metrics"}
        assert c["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "metrics"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "metrics"}
        # Long enough to resolve the output schemas before the first liveness check.
        assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 120
        svc = by_name(docs, "Service", d["spec"]["serviceName"])
        assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"] is True
        assert svc["spec"]["ports"][0]["name"] == "metrics"
    reg = pod_spec(by_name(docs, "Deployment", "weft-registry"))["containers"][0]
    assert reg["args"] == ["registry", "serve"]
    assert {p: reg[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")} == \
        {"startupProbe": "/", "livenessProbe": "/", "readinessProbe": "/"}


@pytest.mark.parametrize("interval,grace", [("100ms", 66), ("2s", 67), ("90s", 155)])
def test_grace_period_covers_commit_interval_and_commit(interval, grace):
    docs = render(sets=(f"processorDefaults.commitInterval={interval}",))
    for d in kinds(docs, "StatefulSet"):
        g = pod_spec(d)["terminationGracePeriodSeconds"]
        assert g == grace
        # Above commit interval + the two transactional calls of a shutdown (30 s each).
        seconds = int(interval[:-2]) / 1000 if interval.endswith("ms") else int(interval[:-1])
        assert g > math.ceil(seconds) + 60


def test_a_grace_period_below_the_commit_time_is_refused():
    msg = render_error(sets=("processorDefaults.terminationGracePeriodSeconds=30",))
    assert "terminationGracePeriodSeconds is 30, below commitInterval 100ms" in msg, msg
    docs = render(values=(PRODUCTION,))
    assert {pod_spec(d)["terminationGracePeriodSeconds"] for d in kinds(docs, "StatefulSet")} == {90}


# --- resilience -------------------------------------------------------------------------------------

@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.name)
def test_pdb_spread_anti_affinity(values):
    docs = render(values=(values,))
    for d in kinds(docs, "StatefulSet") + kinds(docs, "Deployment"):
        selector = d["spec"]["selector"]["matchLabels"]
        pdbs = [p for p in kinds(docs, "PodDisruptionBudget") if p["spec"]["selector"]["matchLabels"] == selector]
        assert len(pdbs) == 1 and pdbs[0]["spec"]["maxUnavailable"] == 1, d["metadata"]["name"]
        spec = pod_spec(d)
        keys = {c["topologyKey"] for c in spec["topologySpreadConstraints"]}
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        assert all(c["whenUnsatisfiable"] == "ScheduleAnyway" and c["labelSelector"]["matchLabels"] == selector
                   for c in spec["topologySpreadConstraints"])
        soft = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        assert soft[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == selector
        assert "requiredDuringSchedulingIgnoredDuringExecution" not in spec["affinity"]["podAntiAffinity"]


def test_priority_class():
    docs = render(values=(PRODUCTION,))
    pc = by_name(docs, "PriorityClass", "weft-processing")
    assert pc["value"] == 100000 and pc["globalDefault"] is False
    for d in kinds(docs, "StatefulSet") + kinds(docs, "Deployment"):
        assert pod_spec(d)["priorityClassName"] == "weft-processing"
    assert all("priorityClassName" not in pod_spec(d) for d in kinds(render(), "StatefulSet"))


def test_the_registry_runs_several_replicas_on_its_kafka_store():
    docs = render()
    reg = by_name(docs, "Deployment", "weft-registry")
    assert reg["spec"]["replicas"] >= 2
    env = env_of(pod_spec(reg)["containers"][0])
    assert env["WEFT_REGISTRY_STORE"]["value"] == "kafka" and env["WEFT_REGISTRY_LISTEN"]["value"] == "0.0.0.0:8081"
    assert by_name(docs, "Service", "weft-registry")["spec"]["ports"][0]["port"] == 8081
    cm = by_name(docs, "ConfigMap", "weft-config")["data"]
    assert cm["WEFT_REGISTRY_URL"] == f"http://weft-registry.{NAMESPACE}.svc:8081"
    # A one-node development cluster clamps the registry topic's replication factor too.
    docs = render(sets=("kafka.maxReplicationFactor=1",))
    env = env_of(pod_spec(by_name(docs, "Deployment", "weft-registry"))["containers"][0])
    assert env["WEFT_REGISTRY_REPLICATION_FACTOR"]["value"] == "1"


# --- autoscaling ------------------------------------------------------------------------------------

def test_keda_scaledobjects_on_lag(topology):
    docs = render(values=(KEDA,))
    assert not kinds(docs, "HorizontalPodAutoscaler"), "KEDA creates its own HPA: never both"
    sts = statefulsets(docs)
    for so in kinds(docs, "ScaledObject"):
        name = so["metadata"]["labels"]["weft/processor"]
        spec = so["spec"]
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": sts[name]["metadata"]["name"]}
        assert "replicas" not in sts[name]["spec"], "the autoscaler owns the replica count"
        assert spec["maxReplicaCount"] <= topology["processors"][name]["maxReplicas"]
        topics = [t["metadata"]["topic"] for t in spec["triggers"]]
        assert topics == topology["processors"][name]["inputs"]
        for t in spec["triggers"]:
            assert t["type"] == "kafka" and t["metadata"]["consumerGroup"] == name
            assert t["metadata"]["allowIdleConsumers"] == "false"
            assert t["metadata"]["sasl"] == "scram_sha256" and t["metadata"]["tls"] == "enable"
            assert t["authenticationRef"] == {"name": "weft-kafka"}
    assert len(kinds(docs, "ScaledObject")) == len(sts)
    auth = by_name(docs, "TriggerAuthentication", "weft-kafka")
    params = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    assert params == {"username": ("weft-kafka-user", "username"), "password": ("weft-kafka-user", "password"),
                      "ca": ("weft-kafka-ca", "ca.crt")}


def test_hpa_on_the_lag_metric(topology):
    docs = render(values=(HPA,))
    assert not kinds(docs, "ScaledObject")
    hpas = kinds(docs, "HorizontalPodAutoscaler")
    assert len(hpas) == len(kinds(docs, "StatefulSet"))
    for h in hpas:
        name = h["metadata"]["labels"]["weft/processor"]
        metric = h["spec"]["metrics"][0]["external"]["metric"]
        assert metric == {"name": "weft_consumer_lag", "selector": {"matchLabels": {"processor": name}}}
        assert h["spec"]["maxReplicas"] <= topology["processors"][name]["maxReplicas"]
        assert h["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"


@pytest.mark.parametrize("mode,api,kind", [("keda", "keda.sh/v1alpha1", "ScaledObject"),
                                           ("hpa", "external.metrics.k8s.io/v1beta1", "HorizontalPodAutoscaler")])
def test_autoscaling_is_gated_on_its_api(mode, api, kind):
    present = render(sets=(f"autoscaling.mode={mode}",), apis=(api,))
    assert kinds(present, kind) and all("replicas" not in d["spec"] for d in kinds(present, "StatefulSet"))
    absent = render(sets=(f"autoscaling.mode={mode}",), apis=())
    assert not kinds(absent, kind)
    assert all(d["spec"]["replicas"] == 2 for d in kinds(absent, "StatefulSet"))


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.name)
def test_never_both_autoscalers(values):
    docs = render(values=(values,))
    assert not (kinds(docs, "ScaledObject") and kinds(docs, "HorizontalPodAutoscaler"))


# --- monitoring -------------------------------------------------------------------------------------

def test_monitoring_is_gated_on_the_prometheus_operator_crds():
    assert not kinds(render(apis=()), "ServiceMonitor") and not kinds(render(apis=()), "PrometheusRule")
    docs = render(apis=("monitoring.coreos.com/v1",))
    sm = by_name(docs, "ServiceMonitor", "weft-processors")
    assert sm["spec"]["endpoints"][0]["port"] == "metrics" and sm["spec"]["endpoints"][0]["path"] == "/metrics"
    selected = [s for s in kinds(docs, "Service")
                if sm["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
    assert {s["metadata"]["name"] for s in selected} == {d["spec"]["serviceName"] for d in kinds(docs, "StatefulSet")}
    assert kinds(docs, "PrometheusRule")
    # The Grafana dashboard is a plain ConfigMap: no CRD needed.
    assert by_name(render(apis=()), "ConfigMap", "weft-dashboard")


def test_grafana_dashboard_configmap():
    docs = render(values=(PRODUCTION,))
    cm = by_name(docs, "ConfigMap", "weft-dashboard")
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"]["grafana_folder"] == "weft"
    dash = json.loads(cm["data"]["weft.json"])
    assert dash["uid"] == "weft-processors" and len(dash["panels"]) > 10


# --- helm test and image ----------------------------------------------------------------------------

def test_helm_test_checks_broker_topics_registry_and_every_subject(topology):
    docs = render()
    pod = by_name(docs, "Pod", "weft-test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    topics, subjects = pod["spec"]["containers"]
    assert topics["args"] == ["topics", "check"]
    assert env_of(subjects)["SUBJECTS"]["value"].split() == topology["subjects"]
    assert len(topology["subjects"]) == len(load_specs()) + 1  # + weft.common.EventMetadata
    script = subjects["args"][0]
    assert "/subjects/$s/versions/latest" in script and '"$url/"' in script
    assert pod["spec"]["restartPolicy"] == "Never"


def test_image_reference():
    sts = kinds(render(), "StatefulSet")[0]
    assert pod_spec(sts)["containers"][0]["image"] == "registry.example.com/platform/weft:0.1.0"
    sts = kinds(render(values=(PRODUCTION,)), "StatefulSet")[0]
    assert pod_spec(sts)["containers"][0]["image"].startswith("registry.example.com/platform/weft@sha256:")


def test_other_render_time_checks():
    msg = render_error(sets=("processors.viscount\\.inventory-service.stockAlerts.critical=10",))
    assert "stockAlerts.critical (10) must be below warning (10)" in msg, msg
    msg = render_error(sets=("kafka.options.bootstrap\\.servers=a:1\\,b:2",))
    assert "cannot contain a comma" in msg, msg
    msg = render_error(sets=("fullnameOverride=a-very-long-release-name-for-a-test",))
    assert "longer than 52 characters" in msg, msg
    off = tuple("processors." + n.replace(".", "\\.") + ".enabled=false" for n in render_topology_names())
    msg = render_error(sets=off)
    assert "no processor is enabled" in msg, msg


def render_topology_names():
    import yaml
    return list(yaml.safe_load((CHART / "files" / "topology.yaml").read_text())["processors"])
