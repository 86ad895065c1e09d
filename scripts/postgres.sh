#!/usr/bin/env bash
# A private PostgreSQL server for development, tests, the demo and CI (the outbox relay and the
# PostgreSQL sinks), from Debian's `postgresql` package.
#
#   scripts/postgres.sh install     apt-install postgresql if no server binaries are found
#   scripts/postgres.sh start       init (once) and start a server on 127.0.0.1:$WEFT_PG_PORT with a
#                                   `weft` role and database (trust on loopback); waits until it answers;
#                                   a second start leaves the running one alone
#   scripts/postgres.sh restart     stop (fast: open connections are cut) and start again
#   scripts/postgres.sh crash       SIGKILL the server's postmaster and children, then start (crash recovery)
#   scripts/postgres.sh stop | status | url | psql [args]
#
# Settings (env): WEFT_PG_DIR (data and log, default /var/tmp/weft-postgres-<uid>), WEFT_PG_PORT (55432).
# As root, the server runs as the `postgres` user (initdb refuses root).
#
# fsync=off: the data survives a crash of the server (the test kills it), not of the machine; commits
# stay synchronous, so an acknowledged commit survives the server's SIGKILL.
#
# Failure modes: a start that does not answer within 60 s fails with the log's tail. A server already
# answering on the port is used as it is (said on stdout), as broker.sh does.
set -euo pipefail

# Not under $HOME: as root the server runs as `postgres`, who cannot enter /root.
PGDIR=${WEFT_PG_DIR:-/var/tmp/weft-postgres-$(id -u)}
DATA="$PGDIR/data"
LOG="$PGDIR/server.log"
PORT=${WEFT_PG_PORT:-55432}
URL="postgres://weft@127.0.0.1:$PORT/weft"

die() { echo "postgres.sh: $*" >&2; exit 1; }
say() { echo "postgres.sh: $*"; }

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$d" ] && [ -x "$d/pg_ctl" ] && echo "$d"
}

install() {
  if [ -n "$(bindir)" ]; then return 0; fi
  say "installing postgresql"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  [ -n "$(bindir)" ] || die "postgresql installed but no pg_ctl found under /usr/lib/postgresql"
}

# Runs a server binary as the data directory's owner.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

answers() { "$(bindir)/pg_isready" -q -h 127.0.0.1 -p "$PORT" 2>/dev/null; }

init() {
  [ -f "$DATA/PG_VERSION" ] && return 0
  mkdir -p "$DATA"
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$PGDIR"; fi
  as_owner "$(bindir)/initdb" -D "$DATA" -U weft -A trust --no-sync -E UTF8 >/dev/null
}

start() {
  install
  if answers; then
    say "a server already answers on 127.0.0.1:$PORT"
    return 0
  fi
  init
  as_owner "$(bindir)/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
    -o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp -c max_connections=200 -c fsync=off" \
    start >/dev/null || { tail -30 "$LOG" >&2; die "the server did not start"; }
  for _ in $(seq 1 120); do answers && break; sleep 0.5; done
  answers || { tail -30 "$LOG" >&2; die "the server does not answer on 127.0.0.1:$PORT"; }
  "$(bindir)/psql" -q -h 127.0.0.1 -p "$PORT" -U weft -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'weft'" | grep -q 1 ||
    "$(bindir)/createdb" -h 127.0.0.1 -p "$PORT" -U weft weft
  say "PostgreSQL on $URL"
}

stop() {
  [ -f "$DATA/postmaster.pid" ] || { say "not running"; return 0; }
  as_owner "$(bindir)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null || true
}

crash() {
  local pid
  pid=$(head -1 "$DATA/postmaster.pid" 2>/dev/null || true)
  [ -n "$pid" ] || die "not running"
  # Stop the postmaster first, so it forks nothing new while its children are killed; the
  # stale postmaster.pid is left for the server, which checks and replaces it itself.
  kill -STOP "$pid" || true
  pkill -KILL -P "$pid" || true
  kill -KILL "$pid" || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  start
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  crash) crash ;;
  status) if answers; then say "up on $URL"; else say "down"; exit 1; fi ;;
  url) echo "$URL" ;;
  psql) shift; exec "$(bindir)/psql" -h 127.0.0.1 -p "$PORT" -U weft -d weft "$@" ;;
  *) die "usage: postgres.sh install|start|stop|restart|crash|status|url|psql" ;;
esac
