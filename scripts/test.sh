#!/usr/bin/env bash
# The test command on a fresh machine: set up, start the local Apache Kafka node, lint, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
# A clean clone's build is written once: incremental caches would only take disk (GBs of it).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# The build and the broker need room; say so plainly instead of dying mid-link.
free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
if [ "$free_kb" -lt $((8 * 1024 * 1024)) ]; then
  echo "test.sh: only $((free_kb / 1024)) MB free on $(df -P . | awk 'NR==2 {print $6}'); the build and the tests need ~8 GB" >&2
  exit 1
fi
bash scripts/setup.sh
bash scripts/broker.sh start
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The contracts gate: house rules, and compatibility of every schema changed since the previous
# commit under its subject's level (a clone with one commit has nothing to compare).
cargo run -q --bin weft -- schemas lint
if git rev-parse -q --verify HEAD~1 >/dev/null; then
  cargo run -q --bin weft -- schemas check --against HEAD~1
fi
# --nocapture so the figures the tests measure (exactly-once, chaos, throughput) reach the log.
cargo test --workspace -- --nocapture
# The schema registry against its own OpenAPI description (Schemathesis, ~1 minute): no 5xx,
# statuses, content types and bodies as declared, Confluent's error body everywhere.
WEFT_BIN=target/debug/weft bash scripts/registry-conformance.sh
# The Helm chart: lint and render with Helm 3 and 4, Kubernetes and CRD schemas, chart rules,
# alerts and dashboard queries against the runtime's live /metrics (needs target/debug/weft).
bash scripts/helm-check.sh
echo "test.sh: done in $((SECONDS - started)) s"
