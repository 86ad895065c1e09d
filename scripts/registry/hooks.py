"""Schemathesis hooks for scripts/registry-conformance.sh (loaded through SCHEMATHESIS_HOOKS).

1. The check `confluent_error_body`: every 4xx/5xx answer is Confluent's
   `{"error_code": int, "message": str}` in `application/vnd.schemaregistry.v1+json`, whose
   `error_code` is the HTTP status or starts with its three digits. Unlike the built-in
   conformance checks it also judges the answers to Schemathesis' request-shape probes (a method
   the path does not have, a malformed Content-Type), which the built-in checks skip, and
   responses the spec does not declare.

2. Generation hooks that make the run reach past input validation: the spec can say that
   `schema` is a string but not that it is Avro, and random subjects, versions and ids almost
   never name something that exists. So, in part of the generated cases:
   - a `schema` string in a request body is replaced with a random Avro schema built from a
     small vocabulary of names, so successive schemas under one subject overlap and the
     compatibility rules, 409 answers and lookups run (`id`/`version`, which only IMPORT mode
     accepts, are dropped from those bodies);
   - the `subject` path parameter is drawn from a small pool, `version` from latest/-1/1/2/3,
     and `id` from 1..6.
   The other cases keep what Schemathesis generated from the spec.

3. After a case that set the global mode to READONLY or IMPORT, the global mode is put back to
   READWRITE (see `after_call`).
"""

import json
import urllib.parse

import requests
import schemathesis
from hypothesis import strategies as st

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def _media_type(response):
    values = response.headers.get("content-type") or []
    return values[0].split(";")[0].strip().lower() if values else None


@schemathesis.check
def confluent_error_body(ctx, response, case):
    # Successful answers are judged by content_type_conformance against what the spec declares.
    if response.status_code < 400:
        return None
    media_type = _media_type(response)
    problems = []
    if media_type != CONTENT_TYPE:
        problems.append(f"Content-Type is {media_type!r}, expected {CONTENT_TYPE}")
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
        shown = response.content[:200].decode("utf-8", "replace")
        problems.append(f"the body is not JSON: {shown!r}")
    if body is not None:
        if not isinstance(body, dict) or set(body) != {"error_code", "message"}:
            problems.append(f"the body is not {{error_code, message}}: {body!r}"[:300])
        else:
            code, message = body["error_code"], body["message"]
            if not isinstance(code, int) or isinstance(code, bool) or not isinstance(message, str):
                problems.append(f"error_code must be an integer and message a string: {body!r}"[:300])
            elif not (code == response.status_code or str(code)[:3] == str(response.status_code)):
                problems.append(
                    f"error_code {code} does not match HTTP status {response.status_code} "
                    "(the status is the first three digits of the code)"
                )
    if problems:
        raise AssertionError(
            f"{response.request.method} answered {response.status_code} without Confluent's error "
            "body: " + "; ".join(problems)
        )
    return None


# --- Generation -----------------------------------------------------------------------------

SCHEMA_BODY_PATHS = {
    "/subjects/{subject}",
    "/subjects/{subject}/versions",
    "/compatibility/subjects/{subject}/versions",
    "/compatibility/subjects/{subject}/versions/{version}",
}
SUBJECTS = ["orders-value", "orders-key", "payments-value", "a/b", "x"]
VERSIONS = ["latest", "-1", "1", "2", "3"]

RECORD_NAMES = ["Order", "Item", "Event"]
FIELD_NAMES = ["id", "total", "note", "tags", "kind", "at"]
ENUM_NAMES = ["Kind", "Status"]
SYMBOLS = ["A", "B", "C", "D"]
FIXED_NAMES = ["Hash", "Md5"]

PRIMITIVES = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
DEFAULTS = {
    "null": None,
    "boolean": False,
    "int": 0,
    "long": 0,
    "float": 0.0,
    "double": 0.0,
    "bytes": "",
    "string": "",
}

logical = st.sampled_from(
    [
        {"type": "int", "logicalType": "date"},
        {"type": "long", "logicalType": "timestamp-millis"},
        {"type": "long", "logicalType": "timestamp-micros"},
        {"type": "string", "logicalType": "uuid"},
        {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
    ]
)
enum = st.builds(
    lambda name, symbols, default: {
        "type": "enum",
        "name": name,
        "symbols": symbols,
        **({"default": symbols[0]} if default else {}),
    },
    st.sampled_from(ENUM_NAMES),
    st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=4, unique=True),
    st.booleans(),
)
fixed = st.builds(
    lambda name, size: {"type": "fixed", "name": name, "size": size},
    st.sampled_from(FIXED_NAMES),
    st.sampled_from([4, 16]),
)
leaf = st.one_of(st.sampled_from(PRIMITIVES), logical, enum, fixed)


def _default_for(schema):
    """A default value valid for `schema`, or None when there is no simple one."""
    if isinstance(schema, str):
        return (True, DEFAULTS[schema]) if schema in DEFAULTS else (False, None)
    if isinstance(schema, list):
        return _default_for(schema[0]) if schema else (False, None)
    kind = schema.get("type")
    if kind in DEFAULTS:
        return True, DEFAULTS[kind]
    if kind == "enum":
        return True, schema["symbols"][0]
    if kind == "array":
        return True, []
    if kind == "map":
        return True, {}
    return False, None


def _field(name, schema, with_default, alias):
    field = {"name": name, "type": schema}
    if with_default:
        ok, value = _default_for(schema)
        if ok:
            field["default"] = value
    if alias:
        field["aliases"] = [alias]
    return field


def _extend(children):
    field = st.builds(
        _field,
        st.sampled_from(FIELD_NAMES),
        children,
        st.booleans(),
        st.one_of(st.none(), st.sampled_from(FIELD_NAMES)),
    )
    record = st.builds(
        lambda name, fields: {"type": "record", "name": name, "fields": fields},
        st.sampled_from(RECORD_NAMES),
        st.lists(field, max_size=4, unique_by=lambda f: f["name"]),
    )
    array = st.builds(lambda items: {"type": "array", "items": items}, children)
    amap = st.builds(lambda values: {"type": "map", "values": values}, children)
    # A union holds no union directly and at most one branch of each unnamed type.
    branch = children.filter(lambda s: not isinstance(s, list))
    union = st.lists(branch, min_size=1, max_size=3, unique_by=json.dumps)
    return st.one_of(record, array, amap, union)


avro_schema = st.recursive(leaf, _extend, max_leaves=8)
# Mostly records at the top, as topics' value schemas are.
top_level = st.one_of(_extend(avro_schema).filter(lambda s: isinstance(s, dict)), avro_schema)


def _is_schema_body(context, body):
    operation = context.operation
    return (
        operation is not None
        and operation.path in SCHEMA_BODY_PATHS
        and isinstance(body, dict)
        and isinstance(body.get("schema"), str)
    )


@schemathesis.hook
def flatmap_body(context, body):
    if not _is_schema_body(context, body):
        return st.just(body)
    # Without `id`/`version`, which only IMPORT mode accepts (42205 otherwise).
    plain = {k: v for k, v in body.items() if k not in ("id", "version")}
    avro_body = top_level.map(lambda s: {**plain, "schema": json.dumps(s)})
    return st.one_of(st.just(body), avro_body, avro_body)


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    drawn = {}
    if "subject" in path_parameters:
        drawn["subject"] = st.sampled_from(SUBJECTS)
    if "version" in path_parameters:
        drawn["version"] = st.sampled_from(VERSIONS)
    if "id" in path_parameters:
        drawn["id"] = st.integers(min_value=1, max_value=6)
    if not drawn:
        return st.just(path_parameters)
    pooled = st.fixed_dictionaries(drawn).map(lambda values: {**path_parameters, **values})
    return st.one_of(st.just(path_parameters), pooled, pooled)


@schemathesis.hook
def after_call(context, case, response):
    """Put the global mode back to READWRITE right after a test case changed it.

    A global READONLY (or IMPORT) left in place would turn every later registration and delete
    of the run into 42205, which hides most of the API from the other operations' cases. The
    answers to READONLY and IMPORT are still judged: in the case that set the mode, and through
    the subject-level modes (PUT /mode/{subject}), which stay as set.
    """
    operation = case.operation
    if operation.method.upper() != "PUT" or operation.path != "/mode" or response.status_code != 200:
        return
    body = case.body if isinstance(case.body, dict) else {}
    if body.get("mode") == "READWRITE":
        return
    parts = urllib.parse.urlsplit(response.request.url)
    base_path = parts.path[: -len("/mode")] if parts.path.endswith("/mode") else ""
    url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, base_path + "/mode", "", ""))
    requests.put(url, json={"mode": "READWRITE"}, timeout=10)
