#!/usr/bin/env bash
# Manages the local Kafka-compatible broker for development, tests and the demo: Nisshi 0.7.0.
#
#   scripts/broker.sh install   build the pinned broker if its binary is missing (cold: ~17 min)
#   scripts/broker.sh start     install if needed, start on 127.0.0.1:$WEFT_BROKER_PORT, wait until
#                               it answers a metadata request; a second start leaves one broker
#   scripts/broker.sh stop      stop it
#   scripts/broker.sh status    exit 0 when it is running and answering
#
# Why exactly this broker: tansu 0.6.0 has no EndTxn (transactions cannot commit); nisshi 0.8.x refuses
# transactional ids; 0.7.0 has the transaction coordinator, but its locked crates declare rustc 1.96
# (hence --ignore-rust-version) and its default features have no storage engine (dynostore gives
# memory://, libsql a persistent SQLite file).
#
# Settings (env):
#   WEFT_HOME            where tools and run state live (default ~/.weft)
#   WEFT_BROKER_PORT     listener port (default 9092)
#   WEFT_BROKER_STORAGE  storage engine URL (default memory://weft/ — lost on stop; for a persistent
#                        broker use sqlite:///$WEFT_HOME/run/broker.db — sqlite:// then an absolute path)
set -euo pipefail

NISSHI_VERSION=0.7.0
WEFT_HOME=${WEFT_HOME:-$HOME/.weft}
PORT=${WEFT_BROKER_PORT:-9092}
STORAGE=${WEFT_BROKER_STORAGE:-memory://weft/}
ROOT="$WEFT_HOME/tools/nisshi-$NISSHI_VERSION"
BIN="$ROOT/bin/nisshi"
RUN="$WEFT_HOME/run"
PIDFILE="$RUN/broker-$PORT.pid"
LOG="$RUN/broker-$PORT.log"

die() { echo "broker.sh: $*" >&2; exit 1; }

install() {
  if [ -x "$BIN" ]; then
    return 0
  fi
  command -v cargo >/dev/null || die "cargo is needed to build nisshi $NISSHI_VERSION"
  mkdir -p "$WEFT_HOME/tools"
  echo "broker.sh: building nisshi $NISSHI_VERSION into $ROOT (a cold build takes ~17 min on 2 cores)" >&2
  local started=$SECONDS
  CARGO_TARGET_DIR="$WEFT_HOME/tools/nisshi-build" \
    cargo install nisshi --version "$NISSHI_VERSION" --locked --ignore-rust-version \
    --features dynostore,libsql --root "$ROOT" >&2
  rm -rf "$WEFT_HOME/tools/nisshi-build"
  echo "broker.sh: nisshi installed in $((SECONDS - started)) s" >&2
}

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

answers() {
  # A metadata request through the broker's own client: succeeds only once the broker serves Kafka.
  timeout 10 "$BIN" topic list --broker "tcp://127.0.0.1:$PORT" >/dev/null 2>&1
}

start() {
  install
  mkdir -p "$RUN"
  if pid=$(running_pid); then
    if answers; then
      echo "broker.sh: already running (pid $pid) on 127.0.0.1:$PORT"
      return 0
    fi
  elif answers; then
    echo "broker.sh: a broker not started by this script already answers on 127.0.0.1:$PORT; using it"
    return 0
  fi
  echo "broker.sh: starting nisshi $NISSHI_VERSION on 127.0.0.1:$PORT (storage $STORAGE), log $LOG"
  nohup "$BIN" broker \
    --listener-url "tcp://127.0.0.1:$PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$PORT" \
    --storage-engine "$STORAGE" \
    --group-initial-rebalance-delay 0s \
    >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 120); do
    if answers; then
      echo "broker.sh: ready (pid $(cat "$PIDFILE"))"
      return 0
    fi
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { tail -20 "$LOG" >&2; die "the broker exited during start"; }
    sleep 0.5
  done
  tail -20 "$LOG" >&2
  die "the broker did not answer a metadata request within 60 s"
}

stop() {
  if pid=$(running_pid); then
    kill "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    echo "broker.sh: stopped (pid $pid)"
  else
    echo "broker.sh: not running"
  fi
  rm -f "$PIDFILE"
}

status() {
  if pid=$(running_pid) && answers; then
    echo "broker.sh: running (pid $pid) on 127.0.0.1:$PORT"
  elif answers; then
    echo "broker.sh: a broker answers on 127.0.0.1:$PORT (not started by this script)"
  else
    echo "broker.sh: not running"
    return 1
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: scripts/broker.sh install|start|stop|status" ;;
esac
