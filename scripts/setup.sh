#!/usr/bin/env bash
# Installs what a fresh machine lacks to build and run weft: Debian packages for the rdkafka crate's
# bundled librdkafka (C toolchain, OpenSSL for TLS/SASL, zlib), then Apache Kafka 4.4.0 (Java 17, Maven, the jars).
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in build-essential pkg-config libssl-dev zlib1g-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup.sh: installing ${need[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup.sh: a Rust toolchain (cargo) is required" >&2; exit 1; }
bash scripts/broker.sh install
# PostgreSQL for the outbox relay and the PostgreSQL sinks (Debian's package).
bash scripts/postgres.sh install

# Python venv for the registry's compatibility check against Confluent's own client
# (scripts/registry_python_check.py): ~/.weft/venv with confluent-kafka[avro,schemaregistry].
VENV="${WEFT_VENV:-$HOME/.weft/venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup.sh: creating the Python venv $VENV"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import confluent_kafka.schema_registry.avro, fastavro" >/dev/null 2>&1; then
  echo "setup.sh: installing confluent-kafka[avro,schemaregistry] into $VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q "confluent-kafka[avro,schemaregistry]"
fi
