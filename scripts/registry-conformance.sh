#!/usr/bin/env bash
# The schema registry against its own OpenAPI description (crates/weft-registry/openapi.yaml):
# `bash scripts/registry-conformance.sh` on a fresh Debian machine with python3 (>= 3.11), from any
# directory.
#
# 1. Installs Schemathesis (pinned with all its dependencies in scripts/registry/requirements.txt)
#    once into a venv under ${WEFT_HOME:-~/.weft}/tools/schemathesis; a second run finds the stamp
#    and installs nothing. Installs Debian's python3-venv when the venv module is missing.
# 2. Starts `weft registry serve --listen 127.0.0.1:0 --store memory` (WEFT_BIN, or the newer of
#    target/release/weft and target/debug/weft; nothing is built) and waits until it answers, or
#    uses the registry at WEFT_REGISTRY_URL when that is set.
# 3. Runs `schemathesis run` with the spec: the examples, coverage, fuzzing and stateful phases,
#    a bounded number of cases per operation, and the checks listed in CHECKS below: no 5xx,
#    status codes, content types, response headers and response bodies as the spec declares them,
#    405 + Allow for undeclared methods, deleted resources gone and created ones reachable, and
#    scripts/registry/hooks.py's `confluent_error_body` (every 4xx/5xx, declared or not, is
#    Confluent's {"error_code", "message"} in application/vnd.schemaregistry.v1+json).
#    The hooks also draw part of the request bodies from a generator of real Avro schemas, and
#    subjects, versions and ids from small pools, so the run reaches past input validation.
# 4. Sends the probes of scripts/registry/route_probes.py: unknown paths, empty or undecodable
#    path parameters, duplicated query parameters and unsupported methods must answer Confluent's
#    error body (Schemathesis never sends the first ones and does not judge the bodies of the
#    others).
# 5. Stops the registry, prints a summary (with a closing 'N passed, N failed' line over the
#    operations and probes) and exits non-zero when anything failed.
#
# Environment: WEFT_REGISTRY_URL (test that registry instead of starting one), WEFT_BIN,
# WEFT_HOME, REGISTRY_CONFORMANCE_EXAMPLES (cases per operation and phase, default 80),
# REGISTRY_CONFORMANCE_SEED (default 18; `random` for a new one each run),
# REGISTRY_CONFORMANCE_WORKERS (default 2), REGISTRY_CONFORMANCE_CHECKS (replaces the CHECKS list,
# to look at one family at a time), REGISTRY_CONFORMANCE_TIMEOUT (hard ceiling of the Schemathesis
# run in seconds, default 600), REGISTRY_CONFORMANCE_REPORTS (report directory, default
# ${WEFT_HOME}/run/registry-conformance: JUnit XML and the NDJSON event stream, in which every
# request and response of the run is recorded).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WEFT_HOME=${WEFT_HOME:-$HOME/.weft}
TOOLS="$WEFT_HOME/tools/schemathesis"
VENV="$TOOLS/venv"
PY="$VENV/bin/python"
REQUIREMENTS="$ROOT/scripts/registry/requirements.txt"
SPEC="$ROOT/crates/weft-registry/openapi.yaml"
HOOKS="$ROOT/scripts/registry/hooks.py"
PROBES="$ROOT/scripts/registry/route_probes.py"
EXAMPLES=${REGISTRY_CONFORMANCE_EXAMPLES:-80}
SEED=${REGISTRY_CONFORMANCE_SEED:-18}
WORKERS=${REGISTRY_CONFORMANCE_WORKERS:-2}
REPORTS=${REGISTRY_CONFORMANCE_REPORTS:-$WEFT_HOME/run/registry-conformance}
# A hard ceiling for the Schemathesis run, far above its ~1 minute here.
RUN_TIMEOUT=${REGISTRY_CONFORMANCE_TIMEOUT:-600}

# The checks, by Schemathesis' names. Left out, on purpose:
# - negative_data_rejection: Confluent's API accepts by design much of what the spec's types rule
#   out, so "schema-violating request accepted" would be reported on nearly every operation for
#   correct behaviour: a boolean flag (deleted, permanent, normalize, verbose, force,
#   defaultToGlobal) is true when spelled true/1 and false for any other value (Java's
#   Boolean.parseBoolean, as Confluent's Jersey parses it) and is never refused; a duplicated query
#   parameter may be answered with one of its values; unknown body members are ignored; a lookup
#   ignores the body's id and version. Refusals of invalid input are still judged: the answer must
#   be declared (status, content type, error body), and route_probes.py covers malformed paths.
# - positive_data_acceptance: the spec can type the body but not say that `schema` is valid Avro,
#   nor foresee state (READONLY and IMPORT modes, versions that exist), so schema-valid requests
#   are correctly answered 42201/42205 (422) and 409.
# - missing_required_header: the API declares no required header.
# - ignored_auth, object_level_authorization: authentication is optional in the spec
#   (`security: [{}, basicAuth]`) and the registry started here is open (no --users-file), so a
#   request without credentials is rightly accepted. The 401/403 answers, the roles and the
#   WWW-Authenticate header are tested by `cargo test` (crates/weft-registry/src/tests.rs,
#   tests/registry_cli.rs).
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance
CHECKS+=,response_schema_conformance,unsupported_method,allow_header_conformance,use_after_free
CHECKS+=,ensure_resource_availability,confluent_error_body
CHECKS=${REGISTRY_CONFORMANCE_CHECKS:-$CHECKS}

started=$SECONDS
say() { echo "registry-conformance: $*"; }
die() { echo "registry-conformance: $*" >&2; exit 1; }

stamp() { sha256sum "$REQUIREMENTS" | cut -c1-16; }

install_tools() {
  if [ -f "$TOOLS/installed" ] && [ "$(cat "$TOOLS/installed")" = "$(stamp)" ] && [ -x "$PY" ]; then
    return 0
  fi
  command -v python3 >/dev/null || die "python3 (>= 3.11) is required"
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "Schemathesis $(grep -i '^schemathesis==' "$REQUIREMENTS") needs Python >= 3.11; python3 is $(python3 -V 2>&1)"
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    say "installing Debian's python3-venv"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
  fi
  say "installing $(grep -i '^schemathesis==' "$REQUIREMENTS") into $VENV"
  rm -rf "$VENV" "$TOOLS/installed"
  mkdir -p "$TOOLS"
  python3 -m venv "$VENV"
  "$PY" -m pip install -q --disable-pip-version-check --no-input -r "$REQUIREMENTS"
  stamp >"$TOOLS/installed"
}

weft_bin() {
  if [ -n "${WEFT_BIN:-}" ]; then
    [ -x "$WEFT_BIN" ] || die "WEFT_BIN=$WEFT_BIN is not an executable"
    echo "$WEFT_BIN"
    return
  fi
  local best=""
  for candidate in target/release/weft target/debug/weft; do
    if [ -x "$candidate" ] && { [ -z "$best" ] || [ "$candidate" -nt "$best" ]; }; then
      best=$candidate
    fi
  done
  [ -n "$best" ] || die "no weft binary: build it first (cargo build -p weft) or set WEFT_BIN or WEFT_REGISTRY_URL"
  echo "$ROOT/$best"
}

REGISTRY_PID=""
LOG=""
cleanup() {
  if [ -n "$REGISTRY_PID" ] && kill -0 "$REGISTRY_PID" 2>/dev/null; then
    kill -TERM "$REGISTRY_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$REGISTRY_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$REGISTRY_PID" 2>/dev/null || true
  fi
  [ -z "$LOG" ] || rm -f "$LOG"
}
trap cleanup EXIT

start_registry() {
  local bin
  bin=$(weft_bin)
  LOG=$(mktemp)
  # Port 0: the kernel picks a free port, and the registry prints the address it bound.
  "$bin" registry serve --listen 127.0.0.1:0 --store memory >"$LOG" 2>&1 &
  REGISTRY_PID=$!
  local addr=""
  for _ in $(seq 300); do
    addr=$(sed -n 's|^weft registry listening on \(http://[0-9.:]*\).*|\1|p' "$LOG" | head -1)
    [ -n "$addr" ] && break
    kill -0 "$REGISTRY_PID" 2>/dev/null || { cat "$LOG" >&2; die "the registry exited before it listened"; }
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$LOG" >&2; die "the registry printed no address within 30 s"; }
  URL=$addr
  say "started $(basename "$bin") registry serve --store memory on $URL (pid $REGISTRY_PID)"
}

wait_until_answers() {
  local url=$1
  for _ in $(seq 150); do
    if "$PY" - "$url" <<'EOF' 2>/dev/null; then
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1].rstrip("/") + "/", timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
      return 0
    fi
    sleep 0.2
  done
  die "$url does not answer GET / with 200 within 30 s"
}

install_tools
ST_VERSION=$("$PY" -m pip show schemathesis 2>/dev/null | sed -n 's/^Version: //p')

if [ -n "${WEFT_REGISTRY_URL:-}" ]; then
  URL=${WEFT_REGISTRY_URL%/}
  say "using the registry at $URL (WEFT_REGISTRY_URL)"
else
  start_registry
fi
wait_until_answers "$URL"

[ "$SEED" = random ] && SEED=$(( (RANDOM << 15) | RANDOM ))
mkdir -p "$REPORTS"
rm -rf "$REPORTS/junit.xml" "$REPORTS/events.ndjson" "$REPORTS/.schemathesis" "$REPORTS/.hypothesis"
cmd=(
  "$PY" -m schemathesis.cli run "$SPEC"
  --url "$URL"
  --phases examples,coverage,fuzzing,stateful
  --checks "$CHECKS"
  --max-examples "$EXAMPLES"
  --seed "$SEED"
  --workers "$WORKERS"
  --continue-on-failure
  --request-timeout 10
  --generation-database none
  --suppress-health-check filter_too_much,too_slow
  --report junit,ndjson
  --report-dir "$REPORTS"
  --report-junit-path "$REPORTS/junit.xml"
  --report-ndjson-path "$REPORTS/events.ndjson"
  --no-color
)
say "schemathesis $ST_VERSION: ${cmd[*]#"$VENV/bin/"}"
st_started=$SECONDS
st_status=0
# From the report directory: Schemathesis keeps its replay cache in ./.schemathesis
# (`cd $REPORTS && $VENV/bin/schemathesis replay ID` replays a failure by its test case id).
(cd "$REPORTS" && SCHEMATHESIS_HOOKS="$HOOKS" PYTHONDONTWRITEBYTECODE=1 \
  timeout --kill-after=10 "$RUN_TIMEOUT" "${cmd[@]}") || st_status=$?
st_elapsed=$((SECONDS - st_started))
[ "$st_status" != 124 ] || say "schemathesis did not finish within $RUN_TIMEOUT s"
registry_died=0
if [ -n "$REGISTRY_PID" ] && ! kill -0 "$REGISTRY_PID" 2>/dev/null; then
  registry_died=1
  say "the registry died during the run; its log:"
  sed 's/^/  /' "$LOG" >&2
fi

# After Schemathesis: a probe may change state (an empty subject that a broken router accepts).
say "route probes (requests outside the spec)"
probes_status=0
probes_out=$(PYTHONDONTWRITEBYTECODE=1 "$PY" "$PROBES" "$URL") || probes_status=$?
echo "$probes_out" | sed 's/^/  /'
probes_passed=$(echo "$probes_out" | sed -n 's/^route probes: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
probes_failed=$(echo "$probes_out" | sed -n 's/^route probes: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
[ -n "$probes_failed" ] || { probes_passed=0; probes_failed=1; }

# Operations that passed or failed, from the JUnit report (one test case per operation).
read -r ops_total ops_failed < <("$PY" - "$REPORTS/junit.xml" <<'EOF' 2>/dev/null || echo "0 0"
import sys, xml.etree.ElementTree as ET
cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
total = failed = 0
for case in cases:
    total += 1
    failed += any(child.tag in ("failure", "error") for child in case)
print(total, failed)
EOF
)
if [ "$ops_total" = 0 ] && [ "$st_status" != 0 ]; then ops_failed=1; fi

echo
say "summary"
echo "  registry:     $URL"
echo "  schemathesis: $ST_VERSION, seed $SEED, $EXAMPLES cases per operation and phase, exit $st_status, ${st_elapsed}s"
echo "  operations:   $((ops_total - ops_failed)) of $ops_total passed every check"
echo "  route probes: $probes_passed passed, $probes_failed failed"
echo "  reports:      $REPORTS/junit.xml, $REPORTS/events.ndjson"
echo "  total time:   $((SECONDS - started))s"
passed=$((ops_total - ops_failed + probes_passed))
failed=$((ops_failed + probes_failed))
# Schemathesis failing without a failed operation (a crash, a timeout) still fails the run.
if [ "$st_status" != 0 ] && [ "$ops_failed" = 0 ]; then failed=$((failed + 1)); fi
failed=$((failed + registry_died))
echo "registry-conformance: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$st_status" = 0 ] && [ "$probes_status" = 0 ]
