"""Helm 3 and Helm 4: lint --strict and render every ci/ values file, identically; install
--dry-run=client; values with a typo or a missing required value fail with a message naming them."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from conftest import (CHART, CI_FILES, HELMS, KUBE_VERSIONS, MINIMAL, NAMESPACE, RELEASE,
                      render, render_error, render_text)


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("helm", sorted(HELMS))
def test_lint_strict(helm, values, kube_version):
    done = subprocess.run(
        [HELMS[helm], "lint", "--strict", str(CHART), "-f", str(values), "--kube-version", kube_version],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout, done.stdout


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.name)
def test_helm3_and_helm4_render_the_same(values):
    three = render(values=(values,), helm="helm3")
    four = render(values=(values,), helm="helm4")
    assert three == four
    assert len(three) > 10


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("helm", sorted(HELMS))
def test_install_dry_run_client(helm, values, tmp_path):
    if helm == "helm3":
        pytest.skip("Helm 3 contacts the cluster even with --dry-run=client (helm/helm#13144, open "
                    "through 3.21); Helm 3 renders the same manifests (test_helm3_and_helm4_render_the_same)")
    cmd = [HELMS[helm], "install", RELEASE, str(CHART), "--dry-run=client", "--namespace", NAMESPACE,
           "-f", str(values)]
    done = subprocess.run(cmd, capture_output=True, text=True, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "STATUS: pending-install" in out
    # NOTES.txt renders and tells how to reach the console commands.
    assert "NOTES:" in out and "-- weft dlq list" in out and f"helm test {RELEASE}" in out
    # Without a cluster no optional API is served: the CRD-gated resources are left out and
    # NOTES.txt says so.
    notes = " ".join(out.split("NOTES:")[1].split())
    assert "no ServiceMonitor was created" in notes and "no PrometheusRule was created" in notes
    assert "kind: ServiceMonitor" not in out and "kind: ScaledObject" not in out
    if "autoscaling:\n  mode: keda" in values.read_text() or "mode: hpa" in values.read_text():
        assert "no autoscaler was created" in notes
    # Hooks are listed apart from the manifest, in the order Helm runs them.
    assert "HOOKS:" in out and "MANIFEST:" in out
    hooks = out.split("HOOKS:")[1].split("MANIFEST:")[0]
    sources = [line.split("templates/")[1] for line in hooks.splitlines() if line.startswith("# Source:")]
    pre = [s for s in sources if s.startswith("provisioning/")]
    assert pre == ["provisioning/serviceaccount.yaml", "provisioning/configmap.yaml", "provisioning/job.yaml"], sources
    assert "tests/test-provisioning.yaml" in sources


@pytest.mark.parametrize("helm", sorted(HELMS))
def test_a_typo_fails_with_the_key_named(helm):
    msg = render_error(sets=("processors.b2b\\.notification-worker.replica=3",), helm=helm)
    assert "/processors/b2b.notification-worker" in msg and "'replica' not allowed" in msg, msg
    msg = render_error(sets=("kafka.bootstrapServer=x:9092",), helm=helm)
    assert "at '/kafka'" in msg and "'bootstrapServer' not allowed" in msg, msg
    msg = render_error(sets=("procesors.x.enabled=true",), helm=helm)
    assert "'procesors' not allowed" in msg, msg


def test_a_typo_in_a_values_file_fails(tmp_path):
    bad = tmp_path / "typo-values.yaml"
    bad.write_text(yaml.safe_dump({"processorDefaults": {"comitInterval": "1s"}}))
    msg = render_error(values=(MINIMAL, bad))
    assert "at '/processorDefaults'" in msg and "'comitInterval' not allowed" in msg, msg


def test_an_unknown_processor_fails():
    msg = render_error(sets=("processors.b2b\\.notification-wrker.enabled=true",))
    assert "'b2b.notification-wrker' not allowed" in msg, msg


def test_wrong_types_fail():
    msg = render_error(sets=("processorDefaults.commitInterval=fast",))
    assert "commitInterval" in msg, msg
    msg = render_error(sets=("autoscaling.mode=both",))
    assert "/autoscaling/mode" in msg, msg


def test_required_values_are_named(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n")
    msg = render_error(values=(empty,))
    assert "image.repository is required" in msg, msg
    only_image = tmp_path / "image.yaml"
    only_image.write_text(yaml.safe_dump({"image": {"repository": "r/weft"}}))
    msg = render_error(values=(only_image,))
    assert "kafka.bootstrapServers is required" in msg, msg


def test_schema_is_self_contained():
    text = (CHART / "values.schema.json").read_text()
    # No remote $ref (Helm 4 would fetch it and fail offline); draft 7 metaschema is built in.
    assert '"$ref"' not in text


def test_default_values_render_with_required_values_only():
    text = render_text(values=(MINIMAL,), apis=())
    assert "kind: StatefulSet" in text


@pytest.mark.parametrize("helm", sorted(HELMS))
def test_the_packaged_chart_renders_the_same(helm, tmp_path):
    done = subprocess.run([HELMS[helm], "package", str(CHART), "-d", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (package,) = tmp_path.glob("weft-*.tgz")
    out = subprocess.run([HELMS[helm], "template", RELEASE, str(package), "--namespace", NAMESPACE, "-f", str(MINIMAL)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert [d for d in yaml.safe_load_all(out.stdout) if d] == render(apis=(), helm=helm)
