#!/usr/bin/env bash
# Topics as code in a CI pipeline: `scripts/provision-topics.sh check|plan|apply [weft flags...]`.
#
# The cluster comes from the environment, as for every weft command:
#   WEFT_BOOTSTRAP_SERVERS, WEFT_SECURITY_PROTOCOL (e.g. sasl_ssl), WEFT_SASL_MECHANISM,
#   WEFT_SASL_USERNAME, WEFT_SASL_PASSWORD, WEFT_SSL_CA_LOCATION, WEFT_SSL_CERTIFICATE_LOCATION,
#   WEFT_SSL_KEY_LOCATION, WEFT_KAFKA_OPTIONS (raw librdkafka key=value, comma-separated),
#   WEFT_TOPICS_DIR (default topics), WEFT_MAX_REPLICATION_FACTOR (dev clusters only).
# Exit codes: 0 ok, 1 error (bad spec, unreachable cluster, refused change), 3 drift (check).
# WEFT_BIN overrides the binary (default: build target/release/weft).
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:-check}
shift || true
case "$action" in
  check|plan|apply) ;;
  *) echo "usage: scripts/provision-topics.sh check|plan|apply [flags]" >&2; exit 2 ;;
esac
if [ -z "${WEFT_BIN:-}" ]; then
  cargo build --release --quiet --bin weft
  WEFT_BIN=target/release/weft
fi
: "${WEFT_BOOTSTRAP_SERVERS:?set WEFT_BOOTSTRAP_SERVERS to the cluster to provision}"
echo "provision-topics: $action on $WEFT_BOOTSTRAP_SERVERS (${WEFT_SECURITY_PROTOCOL:-plaintext})"
exec "$WEFT_BIN" topics "$action" "$@"
