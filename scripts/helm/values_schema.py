#!/usr/bin/env python3
"""Generates helm/weft/values.schema.json: a strict, self-contained JSON schema of the chart's values.

    python3 scripts/helm/values_schema.py --write
    python3 scripts/helm/values_schema.py --check     # exit 1 when the committed file differs

Every object with fixed keys has `additionalProperties: false`, so a typo fails with Helm's
"additional properties 'x' not allowed" and the path. The per-processor settings are written out in
full under processorDefaults and under every processor of files/topology.yaml (rather than through
`$ref` + `unevaluatedProperties`, whose failure Helm reports only as "false schema"). No remote
`$ref`: Helm 4 would try to fetch it. Draft 7, which Helm 3 and 4 both validate. No processor
entry is required (nor its `enabled`): a processor without one runs with processorDefaults.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "weft"
OUT = CHART / "values.schema.json"


def obj(properties: dict, required: list | None = None, desc: str | None = None) -> dict:
    o = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        o["required"] = required
    if desc:
        o["description"] = desc
    return o


def s(desc: str | None = None, **kw) -> dict:
    o = {"type": "string", **kw}
    if desc:
        o["description"] = desc
    return o


def i(minimum: int | None = 0, **kw) -> dict:
    o = {"type": "integer", **kw}
    if minimum is not None:
        o["minimum"] = minimum
    return o


B = {"type": "boolean"}
FREE_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
ANY_OBJECT = {"type": "object"}
LIST_OF_OBJECTS = {"type": "array", "items": {"type": "object"}}
DURATION = s(pattern=r"^[0-9]+(ms|s|m|h)$", description="<n>ms, <n>s, <n>m or <n>h")
PROM_DURATION = s(pattern=r"^[0-9]+(ms|s|m|h|d|w|y)$")
# The outbox relay's durations: humantime, restricted to one number and one unit.
RELAY_DURATION = s(pattern=r"^[0-9]+(ms|s|m|h|d)$", description="<n>ms, <n>s, <n>m, <n>h or <n>d")
QUANTITY = {"type": ["string", "integer", "number"]}
RESOURCES = obj(
    {
        "requests": {"type": "object", "additionalProperties": QUANTITY},
        "limits": {"type": "object", "additionalProperties": QUANTITY},
        "claims": LIST_OF_OBJECTS,
    }
)
SECRET_KEYS = {
    "existingSecret": s(),
    "usernameKey": s(minLength=1),
    "passwordKey": s(minLength=1),
}
SCHEDULING = {
    "podAnnotations": FREE_MAP,
    "podLabels": FREE_MAP,
    "nodeSelector": FREE_MAP,
    "tolerations": LIST_OF_OBJECTS,
    "affinity": ANY_OBJECT,
    "topologySpreadConstraints": LIST_OF_OBJECTS,
    "priorityClassName": s(),
}

PROCESSOR_SETTINGS = {
    "replicas": i(0),
    "commitInterval": DURATION,
    "maxBatch": i(1),
    "breaker": obj({"window": i(0), "ratio": {"type": "number", "minimum": 0, "maximum": 1},
                    "minSamples": i(1)}),
    "maxConsecutiveAborts": i(1),
    "fetchStallTimeout": DURATION,
    "staticMembership": B,
    "autoRegisterSchemas": B,
    "logLevel": s(minLength=1),
    "terminationGracePeriodSeconds": {"type": ["integer", "null"], "minimum": 1},
    "resources": RESOURCES,
    "probes": obj(
        {
            kind: obj({"periodSeconds": i(1), "failureThreshold": i(1)})
            for kind in ("startup", "liveness", "readiness")
        }
    ),
    **SCHEDULING,
    "extraEnv": LIST_OF_OBJECTS,
    "extraVolumes": LIST_OF_OBJECTS,
    "extraVolumeMounts": LIST_OF_OBJECTS,
    "sinkVolume": obj({"existingClaim": s(), "sizeLimit": QUANTITY}),
    "pdb": obj({"enabled": B, "maxUnavailable": {"type": ["integer", "string"]}}),
    "scaling": obj(
        {
            "minReplicas": i(1),
            "maxReplicas": {"type": ["integer", "null"], "minimum": 1},
            "lagThreshold": i(1),
            "activationLagThreshold": i(0),
            "limitToPartitionsWithLag": B,
            "pollingInterval": i(1),
            "cooldownPeriod": i(0),
        }
    ),
}

SINK_EXTRAS = {
    "sinkDatabase": {"type": "boolean", "description": "WEFT_DATABASE_URL from database.existingSecret."},
}

PROCESSOR_EXTRAS = {
    "cypher.erp-sync": SINK_EXTRAS,
    "cypher.search-indexer": SINK_EXTRAS,
    "composerp.replenishment-service": {
        "replenish": obj(
            {
                "defaultThreshold": i(0),
                "thresholds": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
            }
        )
    },
    "viscount.inventory-service": {
        "stockAlerts": obj({"warning": i(0), "critical": i(0)}),
    },
}


def processors_schema() -> dict:
    topology = yaml.safe_load((CHART / "files" / "topology.yaml").read_text())
    props = {}
    for name in sorted(topology["processors"]):
        p = {"enabled": {"type": "boolean", "description": f"Deploy {name} (default true)."}}
        p.update(copy.deepcopy(PROCESSOR_SETTINGS))
        p.update(copy.deepcopy(PROCESSOR_EXTRAS.get(name, {})))
        props[name] = obj(p)
    return obj(
        props,
        desc="Optional overrides per processor of `weft run --list` (files/topology.yaml); a processor "
        "without an entry runs with processorDefaults.",
    )


def schema() -> dict:
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Values of the weft Helm chart",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "global": {"type": "object", "description": "Reserved for umbrella charts."},
            "nameOverride": s(),
            "fullnameOverride": s(),
            "commonLabels": FREE_MAP,
            "commonAnnotations": FREE_MAP,
            "image": obj(
                {
                    "repository": s(),
                    "tag": s(),
                    "digest": s(pattern=r"^$|^sha256:[a-f0-9]{64}$"),
                    "pullPolicy": s(enum=["Always", "IfNotPresent", "Never"]),
                }
            ),
            "imagePullSecrets": {"type": "array", "items": obj({"name": s(minLength=1)}, ["name"])},
            "kafka": obj(
                {
                    "bootstrapServers": s(),
                    "securityProtocol": s(
                        enum=["", "plaintext", "ssl", "sasl_plaintext", "sasl_ssl",
                              "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
                    ),
                    "sasl": obj(
                        {
                            "enabled": B,
                            "mechanism": s(enum=["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]),
                            **SECRET_KEYS,
                        }
                    ),
                    "tls": obj(
                        {
                            "enabled": B,
                            "existingSecret": s(),
                            "caKey": s(minLength=1),
                            "certKey": s(),
                            "keyKey": s(),
                        }
                    ),
                    "options": {
                        "type": "object",
                        "additionalProperties": {"type": ["string", "integer", "number", "boolean"]},
                    },
                    "maxReplicationFactor": i(0),
                }
            ),
            "registry": obj(
                {
                    "enabled": B,
                    "replicas": i(1),
                    "topic": s(minLength=1),
                    "replicationFactor": i(1),
                    "timeout": DURATION,
                    "externalUrl": s(pattern=r"^$|^https?://"),
                    "auth": obj(
                        {
                            **SECRET_KEYS,
                            "usersSecret": s(),
                            "usersKey": s(minLength=1),
                        }
                    ),
                    "service": obj(
                        {
                            "type": s(enum=["ClusterIP", "NodePort", "LoadBalancer"]),
                            "port": i(1, maximum=65535),
                            "annotations": FREE_MAP,
                        }
                    ),
                    "logLevel": s(minLength=1),
                    "resources": RESOURCES,
                    **SCHEDULING,
                    "extraEnv": LIST_OF_OBJECTS,
                    "extraVolumes": LIST_OF_OBJECTS,
                    "extraVolumeMounts": LIST_OF_OBJECTS,
                    "pdb": obj({"enabled": B, "maxUnavailable": {"type": ["integer", "string"]}}),
                    "networkPolicy": obj({"enabled": B, "extraIngressFrom": LIST_OF_OBJECTS}),
                }
            ),
            "provisioning": obj(
                {
                    "enabled": B,
                    "topics": B,
                    "schemas": B,
                    "database": B,
                    "backoffLimit": i(0),
                    "activeDeadlineSeconds": i(1),
                    "ttlSecondsAfterFinished": i(60),
                    "resources": RESOURCES,
                    "podAnnotations": FREE_MAP,
                    "nodeSelector": FREE_MAP,
                    "tolerations": LIST_OF_OBJECTS,
                    "extraEnv": LIST_OF_OBJECTS,
                }
            ),
            "database": obj({"existingSecret": s(), "urlKey": s(minLength=1)}),
            "outbox": obj(
                {
                    "enabled": B,
                    "replicas": i(0),
                    "system": s(),
                    "batchSize": i(1),
                    "interval": RELAY_DURATION,
                    "maxRetries": i(1),
                    "retryBackoff": RELAY_DURATION,
                    "breaker": obj({"threshold": i(1), "timeout": RELAY_DURATION}),
                    "retention": RELAY_DURATION,
                    "autoRegisterSchemas": B,
                    "logLevel": s(minLength=1),
                    "terminationGracePeriodSeconds": i(1),
                    "resources": RESOURCES,
                    "probes": obj(
                        {
                            kind: obj({"periodSeconds": i(1), "failureThreshold": i(1)})
                            for kind in ("startup", "liveness", "readiness")
                        }
                    ),
                    **SCHEDULING,
                    "extraEnv": LIST_OF_OBJECTS,
                    "extraVolumes": LIST_OF_OBJECTS,
                    "extraVolumeMounts": LIST_OF_OBJECTS,
                    "pdb": obj({"enabled": B, "maxUnavailable": {"type": ["integer", "string"]}}),
                }
            ),
            "autoscaling": obj({"mode": s(enum=["none", "keda", "hpa"])}),
            "processorDefaults": obj(copy.deepcopy(PROCESSOR_SETTINGS)),
            "processors": processors_schema(),
            "serviceAccount": obj(
                {
                    "create": B,
                    "name": s(),
                    "annotations": FREE_MAP,
                    "automountServiceAccountToken": B,
                }
            ),
            "podSecurityContext": ANY_OBJECT,
            "containerSecurityContext": ANY_OBJECT,
            "priorityClass": obj(
                {
                    "create": B,
                    "name": s(),
                    "value": i(None),
                    "preemptionPolicy": s(enum=["PreemptLowerPriority", "Never"]),
                }
            ),
            "networkPolicy": obj({"enabled": B, "metricsFrom": LIST_OF_OBJECTS}),
            "tracing": obj({"otlpEndpoint": s(), "serviceName": s(minLength=1)}),
            "metrics": obj(
                {
                    "port": i(1, maximum=65535),
                    "serviceMonitor": obj(
                        {
                            "enabled": B,
                            "interval": PROM_DURATION,
                            "scrapeTimeout": PROM_DURATION,
                            "labels": FREE_MAP,
                            "relabelings": LIST_OF_OBJECTS,
                            "metricRelabelings": LIST_OF_OBJECTS,
                        }
                    ),
                    "prometheusRule": obj(
                        {
                            "enabled": B,
                            "labels": FREE_MAP,
                            "deadLetters": obj(
                                {
                                    "window": PROM_DURATION,
                                    "warning": i(0),
                                    "critical": i(0),
                                    "unhandledFor": DURATION,
                                }
                            ),
                            "consumerLag": obj(
                                {"warning": i(0), "critical": i(0), "for": PROM_DURATION}
                            ),
                            "sla": obj(
                                {
                                    "quantile": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                                    "for": PROM_DURATION,
                                }
                            ),
                            "circuitBreaker": obj(
                                {"nearlyOpenShare": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}}
                            ),
                            "runbookBaseUrl": s(),
                            "additionalRules": LIST_OF_OBJECTS,
                        }
                    ),
                    "dashboard": obj(
                        {
                            "enabled": B,
                            "namespace": s(),
                            "labels": FREE_MAP,
                            "annotations": FREE_MAP,
                        }
                    ),
                }
            ),
            "tests": obj(
                {
                    "image": obj(
                        {
                            "repository": s(minLength=1),
                            "tag": s(minLength=1),
                            "pullPolicy": s(enum=["Always", "IfNotPresent", "Never"]),
                        }
                    )
                }
            ),
        },
    }


def render() -> str:
    return json.dumps(schema(), indent=2, sort_keys=False) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = ap.parse_args()
    text = render()
    rel = OUT.relative_to(ROOT)
    if args.write:
        OUT.write_text(text)
        print(f"values_schema.py: wrote {rel}")
        return 0
    if OUT.exists() and OUT.read_text() == text:
        print(f"values_schema.py: {rel} is up to date")
        return 0
    print(f"values_schema.py: {rel} is stale; run `python3 scripts/helm/values_schema.py --write`")
    return 1


if __name__ == "__main__":
    sys.exit(main())
