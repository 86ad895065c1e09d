"""Strict validation of Kubernetes manifests against the JSON schemas that kubernetes-validate
(PyPI) bundles for each Kubernetes release: `-strict` schemas reject unknown fields at any depth.

Unlike kubernetes-validate's own `validate()`, which reloads the 1.2 MB definitions for every
document and stops at the first error, this loads each version's definitions once and reports
every error of a document with its path.
"""

from __future__ import annotations

import functools
import json
import re

import importlib_resources
import jsonschema
import referencing
import referencing.jsonschema

SCHEMAS = importlib_resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")


def _load(path) -> dict:
    with importlib_resources.as_file(path) as f:
        return json.loads(f.read_text())


@functools.lru_cache(maxsize=None)
def _registry(version: str) -> tuple[str, referencing.Registry]:
    folder = f"v{version}-local-strict"
    if not SCHEMAS.joinpath(folder).is_dir():
        raise LookupError(f"kubernetes-validate has no schemas for Kubernetes {version}")
    definitions = referencing.Resource.from_contents(_load(SCHEMAS.joinpath(folder, "_definitions.json")))
    return folder, definitions @ referencing.Registry()


@functools.lru_cache(maxsize=None)
def _validator(version: str, api_version: str, kind: str):
    folder, registry = _registry(version)
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    name = f"{kind.lower()}-{group_version}.json"
    path = SCHEMAS.joinpath(folder, name)
    if not path.is_file():
        return None
    schema = _load(path)
    resource = referencing.Resource.from_contents(schema)
    return jsonschema.Draft202012Validator(schema, registry=resource @ registry)


def errors(doc: dict, version: str) -> list[str]:
    """Every schema violation of `doc` for Kubernetes `version` (e.g. "1.30.0"); raises
    LookupError when the version has no schema for the document's kind."""
    validator = _validator(version, doc["apiVersion"], doc["kind"])
    if validator is None:
        raise LookupError(f"no Kubernetes {version} schema for {doc['apiVersion']} {doc['kind']}")
    found = []
    for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in e.absolute_path) or "(root)"
        found.append(f"{path}: {e.message[:300]}")
    return found
