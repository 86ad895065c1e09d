#!/usr/bin/env bash
# The main job on a fresh machine: set up, start the local Apache Kafka node, run `weft demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --bin weft
bash scripts/broker.sh start
exec target/release/weft demo "$@"
