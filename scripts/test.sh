#!/usr/bin/env bash
# The test command on a fresh machine: set up, start the local broker, lint, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
bash scripts/setup.sh
bash scripts/broker.sh start
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
echo "test.sh: done in $((SECONDS - started)) s"
