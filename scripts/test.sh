#!/usr/bin/env bash
# The test command on a fresh machine: set up, start the local Apache Kafka node, lint, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
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
