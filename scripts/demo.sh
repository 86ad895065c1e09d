#!/usr/bin/env bash
# The main job on a fresh machine: set up, start the local Apache Kafka node and PostgreSQL, run
# `weft demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --bin weft
bash scripts/broker.sh start
# PostgreSQL: Cypher's checkout goes through the transactional outbox and its relay.
bash scripts/postgres.sh start
WEFT_DATABASE_URL=${WEFT_DATABASE_URL:-$(bash scripts/postgres.sh url)} exec target/release/weft demo "$@"
