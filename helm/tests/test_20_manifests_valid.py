"""Every rendered manifest of every ci/ values file is valid: Kubernetes kinds against the strict
schemas of Kubernetes 1.30 and 1.37 (unknown fields rejected), the custom resources
(ServiceMonitor, PrometheusRule, ScaledObject, TriggerAuthentication) against the operators' API
types, unknown keys included (scripts/helm/crcheck.mjs)."""

from __future__ import annotations

import copy
import json

import pytest

import k8s_schema
from conftest import CI_FILES, KUBE_VERSIONS, render, run_crcheck

CUSTOM = {"monitoring.coreos.com/v1", "keda.sh/v1alpha1"}


def unique_documents():
    """(id, doc) of every document of every ci/ file, each distinct document once."""
    seen, out = set(), []
    for values in CI_FILES:
        for doc in render(values=(values,)):
            key = json.dumps(doc, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append((f"{values.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return out


DOCS = unique_documents()
BUILTIN = [(i, d) for i, d in DOCS if d["apiVersion"] not in CUSTOM]
CRS = [(i, d) for i, d in DOCS if d["apiVersion"] in CUSTOM]


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_kubernetes_kinds_are_valid_strictly(version):
    problems = []
    for ident, doc in BUILTIN:
        problems += [f"{ident}: {e}" for e in k8s_schema.errors(doc, version)]
    assert not problems, f"{len(problems)} schema violation(s) for Kubernetes {version}:\n" + "\n".join(problems)


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_the_strict_validation_rejects_unknown_and_mistyped_fields(version):
    sts = next(d for _, d in BUILTIN if d["kind"] == "StatefulSet")
    bad = copy.deepcopy(sts)
    bad["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    bad["spec"]["replicas"] = "two"
    found = "\n".join(k8s_schema.errors(bad, version))
    assert "livenessProbes" in found and "replicas" in found, found


def test_every_kind_is_covered():
    kinds = {d["kind"] for _, d in DOCS}
    # What the ci/ matrix must exercise between them.
    expected = {"StatefulSet", "Deployment", "Service", "ConfigMap", "ServiceAccount", "Job", "Pod",
                "PodDisruptionBudget", "NetworkPolicy", "PriorityClass", "HorizontalPodAutoscaler",
                "ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PrometheusRule"}
    assert expected <= kinds, f"not rendered by any ci/ file: {sorted(expected - kinds)}"


@pytest.fixture(scope="module")
def cr_results():
    payload = {"resources": [{"id": i, "doc": d} for i, d in CRS], "expressions": []}
    # Deliberately broken copies: the check must catch an unknown key at depth and a wrong type.
    so = next(d for _, d in CRS if d["kind"] == "ScaledObject")
    bad_so = copy.deepcopy(so)
    bad_so["spec"]["triggers"][0]["metadata"] = {"topic": "t"}
    bad_so["spec"]["triggers"][0]["lagTreshold"] = "10"
    bad_so["spec"]["maxReplicaCount"] = "6"
    pr = next(d for _, d in CRS if d["kind"] == "PrometheusRule")
    bad_pr = copy.deepcopy(pr)
    bad_pr["spec"]["groups"][0]["rules"][0]["expresion"] = bad_pr["spec"]["groups"][0]["rules"][0].pop("expr")
    sm = next(d for _, d in CRS if d["kind"] == "ServiceMonitor")
    bad_sm = copy.deepcopy(sm)
    bad_sm["spec"]["endpoints"][0]["intervall"] = "30s"
    payload["resources"] += [
        {"id": "broken:ScaledObject", "doc": bad_so},
        {"id": "broken:PrometheusRule", "doc": bad_pr},
        {"id": "broken:ServiceMonitor", "doc": bad_sm},
    ]
    return {r["id"]: r["errors"] for r in run_crcheck(payload)["resources"]}


def test_custom_resources_match_their_api_types_unknown_keys_included(cr_results):
    assert {d["kind"] for _, d in CRS} == {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PrometheusRule"}
    problems = [f"{i}: {e}" for i, errs in cr_results.items() if not i.startswith("broken:") for e in errs]
    assert not problems, "\n".join(problems)


def test_the_custom_resource_check_catches_unknown_keys_and_types(cr_results):
    so = " ".join(cr_results["broken:ScaledObject"])
    assert "lagTreshold" in so and "maxReplicaCount" in so, so
    assert "expresion" in " ".join(cr_results["broken:PrometheusRule"])
    sm = " ".join(cr_results["broken:ServiceMonitor"])
    assert "intervall" in sm, sm
