"""Shared fixtures of the chart tests: the Helm binaries, rendering with caching, the topology.

Run through scripts/helm-check.sh, which installs the tools and sets:
  WEFT_HELM3, WEFT_HELM4      Helm 3 and Helm 4 binaries
  WEFT_HELM_NODE_DIR          node_modules for the custom-resource and PromQL checks
  WEFT_HELM_LIVE_DIR          where scripts/helm/live_metrics.py writes the runtime's /metrics
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "weft"
CI_FILES = sorted((CHART / "ci").glob("*-values.yaml"))
RELEASE = "weft"
NAMESPACE = "erp"
# Every optional API the chart can render for: the Prometheus Operator, KEDA and an external
# metrics adapter (the autoscaling mode decides which autoscaler renders).
ALL_APIS = ("monitoring.coreos.com/v1", "keda.sh/v1alpha1", "external.metrics.k8s.io/v1beta1")
KUBE_VERSIONS = ("1.30.0", "1.37.0")
MINIMAL = CHART / "ci" / "minimal-values.yaml"


def helm_binaries() -> dict[str, str]:
    found = {}
    for name, var in (("helm3", "WEFT_HELM3"), ("helm4", "WEFT_HELM4")):
        path = os.environ.get(var)
        if not path or not Path(path).is_file():
            raise RuntimeError(f"{var} is not set to a Helm binary: run the tests through scripts/helm-check.sh")
        found[name] = path
    return found


HELMS = helm_binaries()


class RenderError(Exception):
    pass


def _args(values: tuple, sets: tuple, apis: tuple, kube_version: str | None) -> list[str]:
    args = []
    for v in values:
        args += ["-f", str(v)]
    for s in sets:
        args += ["--set", s]
    for a in apis:
        args += ["--api-versions", a]
    if kube_version:
        args += ["--kube-version", kube_version]
    return args


@functools.lru_cache(maxsize=None)
def _template(helm: str, values: tuple, sets: tuple, apis: tuple, kube_version: str | None,
              release: str, show_only: str | None) -> str:
    cmd = [HELMS[helm], "template", release, str(CHART), "--namespace", NAMESPACE]
    cmd += _args(values, sets, apis, kube_version)
    if show_only:
        cmd += ["--show-only", show_only]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RenderError(done.stderr.strip())
    return done.stdout


def render_text(values=(MINIMAL,), sets=(), apis=ALL_APIS, helm="helm3", kube_version="1.37.0",
                release=RELEASE, show_only=None) -> str:
    return _template(helm, tuple(values), tuple(sets), tuple(apis), kube_version, release, show_only)


def render(values=(MINIMAL,), sets=(), apis=ALL_APIS, helm="helm3", kube_version="1.37.0",
           release=RELEASE) -> list[dict]:
    """The rendered documents (hooks and tests included), parsed."""
    text = render_text(values, sets, apis, helm, kube_version, release)
    return [d for d in yaml.safe_load_all(text) if d]


def render_error(values=(MINIMAL,), sets=(), apis=ALL_APIS, helm="helm3") -> str:
    """Helm's message for values that must be refused (fails the test when they render)."""
    try:
        render_text(values, sets, apis, helm)
    except RenderError as e:
        return str(e)
    raise AssertionError(f"rendering with {values} {sets} succeeded but should have failed")


def kinds(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def by_name(docs: list[dict], kind: str, name: str) -> dict:
    for d in docs:
        if d["kind"] == kind and d["metadata"]["name"] == name:
            return d
    raise KeyError(f"{kind}/{name} not rendered; have {[d['kind'] + '/' + d['metadata']['name'] for d in docs]}")


def pod_spec(doc: dict) -> dict:
    if doc["kind"] == "Pod":
        return doc["spec"]
    return doc["spec"]["template"]["spec"]


def containers(doc: dict, init: bool = True) -> list[dict]:
    spec = pod_spec(doc)
    return (spec.get("initContainers", []) if init else []) + spec["containers"]


def env_of(container: dict) -> dict:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.fixture(scope="session")
def topology() -> dict:
    return yaml.safe_load((CHART / "files" / "topology.yaml").read_text())


@pytest.fixture(scope="session")
def chart_values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def load_specs() -> dict:
    """topics/**/*.yaml as weft_core::spec::SpecSet reads them (topic specs only)."""
    specs = {}
    for path in sorted((ROOT / "topics").rglob("*.yaml")):
        if path.name.startswith(("_", "inventory")) or path.parent.name in ("groups", "migrations"):
            continue
        doc = yaml.safe_load(path.read_text())
        specs[doc["name"]] = doc
    return specs


def node_dir() -> Path:
    d = os.environ.get("WEFT_HELM_NODE_DIR")
    if not d or not (Path(d) / "node_modules").is_dir():
        raise RuntimeError("WEFT_HELM_NODE_DIR has no node_modules: run the tests through scripts/helm-check.sh")
    return Path(d)


def run_crcheck(payload: dict) -> dict:
    """Runs scripts/helm/crcheck.mjs (custom resources and PromQL) in the tools' node directory."""
    nd = node_dir()
    (nd / "crcheck.mjs").write_text((ROOT / "scripts" / "helm" / "crcheck.mjs").read_text())
    (nd / "input.json").write_text(json.dumps(payload))
    done = subprocess.run(["node", "crcheck.mjs", "input.json"], cwd=nd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"crcheck.mjs failed:\n{done.stderr}")
    return json.loads(done.stdout)
