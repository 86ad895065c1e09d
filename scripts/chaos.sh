#!/usr/bin/env bash
# The long form of the chaos proof (crates/weft-runtime/tests/chaos.rs): keyed events through
# two chained copiers, three replicas each, on a three-node Apache Kafka cluster; a random
# replica SIGKILLed every ~5 s, one broker kill -9ed and restarted; eager, cooperative-sticky and
# KIP-848 assignment in turn. Counts every event id; prints the figures per protocol.
#
#   bash scripts/chaos.sh [EVENTS] [RATE]     default 100000 events at 1000/s per protocol
#   WEFT_CHAOS_MODES="sticky, static|KIP-848" bash scripts/chaos.sh   only modes whose names hold a part
#
# The test starts its own cluster on free ports (127.0.0.1:39092/39192/39292 when free) and
# stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WEFT_CHAOS_EVENTS=${1:-100000}
export WEFT_CHAOS_RATE=${2:-1000}
cargo test --release -p weft-runtime --test chaos -- --nocapture 2>&1 | grep -E -A2 "^chaos |^ +[0-9.]+ s  |test result|panicked|assert"
