#!/usr/bin/env python3
"""Confluent's own Python client against a running weft registry.

Usage: registry_python_check.py URL [SUBJECT_PREFIX [USER:PASSWORD]]

With USER:PASSWORD every client authenticates (basic.auth.user.info) and, first, a client without
credentials must be refused with 401 / error code 40101.

Registers schemas with SchemaRegistryClient, serialises a record with AvroSerializer (auto
registration, Confluent wire format: magic byte 0 + 4-byte id + Avro body), deserialises it
with AvroDeserializer (which fetches the schema by id), checks compatibility, subject config,
lookup and version deletion. Exits non-zero with a message on the first mismatch.
Needs the venv made by scripts/setup.sh (~/.weft/venv with confluent-kafka[avro,schemaregistry]).
"""
import json
import struct
import sys

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def main():
    if len(sys.argv) < 2:
        print("usage: registry_python_check.py URL [SUBJECT_PREFIX [USER:PASSWORD]]", file=sys.stderr)
        sys.exit(2)
    url = sys.argv[1]
    prefix = sys.argv[2] if len(sys.argv) > 2 else "py"
    conf = {"url": url}
    if len(sys.argv) > 3:
        conf["basic.auth.user.info"] = sys.argv[3]
        try:
            SchemaRegistryClient({"url": url}).get_subjects()
            check(False, "a client without credentials was served")
        except SchemaRegistryError as e:
            check(e.http_status_code == 401 and e.error_code == 40101,
                  f"without credentials: {e.http_status_code} {e.error_code}, expected 401 40101")
    topic = f"{prefix}.orders"
    subject = f"{topic}-value"
    client = SchemaRegistryClient(conf)

    v1 = json.dumps({
        "type": "record", "name": "Order", "namespace": "shop",
        "fields": [{"name": "id", "type": "string"}, {"name": "total", "type": "long"}],
    })
    v2 = json.dumps({
        "type": "record", "name": "Order", "namespace": "shop",
        "fields": [{"name": "id", "type": "string"}, {"name": "total", "type": "long"},
                   {"name": "note", "type": ["null", "string"], "default": None}],
    })
    breaking = json.dumps({
        "type": "record", "name": "Order", "namespace": "shop",
        "fields": [{"name": "id", "type": "string"}, {"name": "total", "type": "long"},
                   {"name": "currency", "type": "string"}],
    })

    # Serialise with auto-registration, then deserialise by id.
    ctx = SerializationContext(topic, MessageField.VALUE)
    serializer = AvroSerializer(client, v1)
    payload = serializer({"id": "o-1", "total": 1250}, ctx)
    check(payload[0] == 0, f"magic byte is {payload[0]}")
    (schema_id,) = struct.unpack(">I", payload[1:5])
    latest = client.get_latest_version(subject)
    check(latest.schema_id == schema_id and latest.version == 1,
          f"latest {latest.schema_id}/{latest.version} vs wire id {schema_id}")
    fresh = SchemaRegistryClient(conf)  # no cache: really fetches by id
    decoded = AvroDeserializer(fresh)(payload, ctx)
    check(decoded == {"id": "o-1", "total": 1250}, f"decoded {decoded}")

    # Compatibility: config, test, refusal.
    client.set_compatibility(subject_name=subject, level="FULL")
    check(client.get_compatibility(subject) == "FULL", "subject level FULL")
    check(client.test_compatibility(subject, Schema(v2, "AVRO")), "v2 is FULL compatible")
    check(not client.test_compatibility(subject, Schema(breaking, "AVRO")),
          "a required new field is not FULL compatible")
    try:
        client.register_schema(subject, Schema(breaking, "AVRO"))
        check(False, "registering an incompatible schema must fail")
    except SchemaRegistryError as e:
        check(e.error_code == 409, f"incompatible registration error code {e.error_code}")
    id2 = client.register_schema(subject, Schema(v2, "AVRO"))
    check(id2 != schema_id, "v2 has its own id")
    found = client.lookup_schema(subject, Schema(v2, "AVRO"))
    check(found.schema_id == id2 and found.version == 2, f"lookup {found.schema_id}/{found.version}")

    # A v2 writer, read by a deserialiser that resolves to the writer's schema.
    payload2 = AvroSerializer(client, v2, conf={"auto.register.schemas": False,
                                                "use.latest.version": False})(
        {"id": "o-2", "total": 5, "note": "gift"}, ctx)
    decoded2 = AvroDeserializer(fresh)(payload2, ctx)
    check(decoded2 == {"id": "o-2", "total": 5, "note": "gift"}, f"decoded v2 {decoded2}")

    # Versions, soft delete of a version, subjects.
    check(client.get_versions(subject) == [1, 2], f"versions {client.get_versions(subject)}")
    check(subject in client.get_subjects(), "subject listed")
    client.delete_version(subject, 2)
    check(client.get_versions(subject) == [1], "version 2 soft-deleted")
    try:
        client.get_schema(999999)
        check(False, "unknown id must fail")
    except SchemaRegistryError as e:
        check(e.error_code == 40403, f"unknown id error code {e.error_code}")
    print(f"OK: {subject} ids {schema_id},{id2}; serialised and deserialised through {url}")


if __name__ == "__main__":
    main()
