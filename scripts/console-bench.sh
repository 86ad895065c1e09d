#!/usr/bin/env bash
# Console throughput (issue #18): records/s of weft's console readers against Kafka's own
# ConsoleConsumer reading the same topic in the same run, on the local Apache Kafka broker.
#
#   bash scripts/console-bench.sh [N]        N records (default 200000), N/4 dead letters
#
# What it does:
# 1. starts the dev broker if needed (scripts/broker.sh start, 127.0.0.1:9092) and an in-memory
#    registry (`weft registry serve --store memory --listen 127.0.0.1:0`), stopped at exit;
# 2. creates console-bench-<random>.order.placed.v1 (6 partitions) and console-bench-<random>.bench.dlq
#    (6 partitions), deleted at exit unless CONSOLE_BENCH_KEEP=1;
# 3. registers b2b.order.OrderPlaced (EventMetadata inlined: the registry refuses references) under
#    `<topic>-value` and `<dlq>-value`;
# 4. produces N realistic OrderPlaced events (distinct order ids = keys, distinct event ids) with
#    `weft produce --file` in chunks of 10,000, CONSOLE_BENCH_PRODUCERS (default 3) processes at a
#    time, with linger.ms=0 (weft produce awaits each record's acknowledgement, so the default
#    5 ms linger costs 5 ms per record); the first N/4 again into the dead-letter topic with the
#    runtime's dead-letter headers (weft-dlq-error-class, -processor, -source-topic, -attempt,
#    -error-message, -first/-last-failure; weft-event-id is set by produce from the envelope);
# 5. waits until no cargo and no scripts/test.sh process runs (every 5 s, up to 40 min; also
#    once at the start, since the broker is shared with the tests and a build may be writing the
#    binary), then picks the weft binary to time again (a release build may have finished);
# 6. times CONSOLE_BENCH_ROUNDS (default 3) rounds of, each a separate process, in turn:
#    weft consume (decodes every record, -o jsonl), weft trace <random existing event id>
#    (scans all N), weft dlq list (reads N/4 headers), ConsoleConsumer on the topic and on the
#    dead-letter topic (through scripts/broker.sh tool: JVM start included) — wall s, CPU s
#    (user+sys from wait4, children included), peak RSS; prints the table; exits non-zero when a
#    reader failed or read another number of records than expected. Before each run it waits
#    until the rest of the machine (everything but the broker) uses under
#    CONSOLE_BENCH_MAX_OTHER_CORES (default 0.3) cores, and repeats a run (up to 4 times) during
#    which it used more, marking the run CONTENDED if that never happened. The broker's CPU
#    during each run is reported too (it serves the fetches).
#
# Settings (env): WEFT_BIN (default target/release/weft when it exists and is newer than
# target/debug/weft, else target/debug/weft), CONSOLE_BENCH_ROUNDS, CONSOLE_BENCH_PRODUCERS,
# CONSOLE_BENCH_KEEP=1 (keep topics), CONSOLE_BENCH_NO_WAIT=1 (no waiting, no contention check),
# CONSOLE_BENCH_OUT (the figures as JSON; default target/console-bench.json).
set -euo pipefail

cd "$(dirname "$0")/.."
N=${1:-200000}
[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 4 ] || { echo "usage: scripts/console-bench.sh [N>=4]" >&2; exit 2; }
M=$((N / 4))
ROUNDS=${CONSOLE_BENCH_ROUNDS:-3}
PRODUCERS=${CONSOLE_BENCH_PRODUCERS:-3}
CHUNK=10000
BOOTSTRAP=127.0.0.1:9092
HELPER=scripts/console_bench/console_bench.py
OUT=${CONSOLE_BENCH_OUT:-target/console-bench.json}

# A test run shares the broker and the cores (and a build may still write the binary): wait first.
[ "${CONSOLE_BENCH_NO_WAIT:-}" = 1 ] || python3 "$HELPER" wait-idle --max-minutes 40
pick_bin() {
  # WEFT_BIN, else the release binary when it is newer than the debug one, else the debug one
  if [ -n "${WEFT_BIN:-}" ]; then
    BIN=$WEFT_BIN
  elif [ -x target/release/weft ] && [ target/release/weft -nt target/debug/weft ]; then
    BIN=target/release/weft
  else
    BIN=target/debug/weft
  fi
  [ -x "$BIN" ] || { echo "console-bench: no weft binary at $BIN" >&2; exit 2; }
  echo "console-bench: weft binary $BIN ($(stat -c %y "$BIN" | cut -d. -f1)), N=$N, M=$M, $ROUNDS rounds"
}
pick_bin

WORK=$(mktemp -d /tmp/console-bench.XXXXXX)
REG_PID=""
TOPIC=""
DLQ=""
cleanup() {
  local rc=$?
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  if [ -n "$TOPIC" ] && [ "${CONSOLE_BENCH_KEEP:-}" != 1 ]; then
    bash scripts/broker.sh tool TopicCommand --bootstrap-server "$BOOTSTRAP" --delete \
      --topic "$TOPIC" >/dev/null 2>&1 || true
    [ -n "$DLQ" ] && bash scripts/broker.sh tool TopicCommand --bootstrap-server "$BOOTSTRAP" --delete \
      --topic "$DLQ" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. broker and registry
bash scripts/broker.sh start
"$BIN" registry serve --store memory --listen 127.0.0.1:0 >"$WORK/registry.out" 2>"$WORK/registry.err" &
REG_PID=$!
REG=""
for _ in $(seq 1 150); do
  REG=$(sed -n '1s#^weft registry listening on \(http://[^ ]*\).*#\1#p' "$WORK/registry.out")
  [ -n "$REG" ] && break
  kill -0 "$REG_PID" 2>/dev/null || { cat "$WORK/registry.err" >&2; echo "console-bench: the registry exited" >&2; exit 1; }
  sleep 0.2
done
[ -n "$REG" ] || { echo "console-bench: the registry did not say where it listens within 30 s" >&2; exit 1; }
echo "console-bench: registry $REG (pid $REG_PID)"

# 2. topics
ID="$(date +%s)-$RANDOM"
TOPIC="console-bench-$ID.order.placed.v1"
DLQ="console-bench-$ID.bench.dlq"
for t in "$TOPIC" "$DLQ"; do
  bash scripts/broker.sh tool TopicCommand --bootstrap-server "$BOOTSTRAP" --create --topic "$t" \
    --partitions 6 --replication-factor 1 2>&1 | grep -v "^WARNING: Due to limitations in metric names"
done

# 3. schema under both subjects (same schema, same id)
python3 "$HELPER" schema avro >"$WORK/schema.json"
for t in "$TOPIC" "$DLQ"; do
  curl -fsS -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data-binary @"$WORK/schema.json" "$REG/subjects/$t-value/versions" >"$WORK/id.json"
  echo "console-bench: registered $t-value: $(cat "$WORK/id.json")"
done

# 4. records
started=$SECONDS
python3 "$HELPER" gen "$N" "$WORK/records.jsonl" "$WORK/event-ids"
split -l "$CHUNK" -d -a 4 "$WORK/records.jsonl" "$WORK/chunk."
head -n "$M" "$WORK/records.jsonl" | split -l "$CHUNK" -d -a 4 - "$WORK/dlq."
rm "$WORK/records.jsonl"
echo "console-bench: generated $N records in $((SECONDS - started)) s; producing ($PRODUCERS weft produce processes at a time, $CHUNK records each)"
export BIN REG TOPIC DLQ BOOTSTRAP
produce_chunk() {
  # produce_chunk <file>: main-topic chunks as they are; dead-letter chunks with the runtime's
  # headers (error class alternating by chunk)
  set -o pipefail
  local f=$1 n
  n=${f##*.}
  local args=("$TOPIC")
  if [[ "$f" == */dlq.* ]]; then
    local class=poison
    [ $((10#$n % 2)) = 1 ] && class=transient
    args=("$DLQ"
      --header "weft-dlq-error-class=$class"
      --header "weft-dlq-processor=console-bench.order-confirmation"
      --header "weft-dlq-source-topic=$TOPIC"
      --header "weft-dlq-attempt=3"
      --header "weft-dlq-error-message=bench: $class failure"
      --header "weft-dlq-first-failure=2026-11-02T08:00:00Z"
      --header "weft-dlq-last-failure=2026-11-02T08:05:00Z")
  fi
  "$BIN" produce "${args[@]}" --bootstrap-servers "$BOOTSTRAP" --registry-url "$REG" --file "$f" \
    --kafka-option linger.ms=0 -o jsonl | wc -l >"$f.count" || { echo "console-bench: producing $f failed" >&2; return 1; }
}
export -f produce_chunk
started=$SECONDS
printf '%s\n' "$WORK"/chunk.* "$WORK"/dlq.* | grep -v '\.count$' |
  xargs -P "$PRODUCERS" -I{} bash -c 'produce_chunk "$1"' _ {}
main_count=$(cat "$WORK"/chunk.*.count | awk '{s += $1} END {print s + 0}')
dlq_count=$(cat "$WORK"/dlq.*.count | awk '{s += $1} END {print s + 0}')
secs=$((SECONDS - started))
echo "console-bench: produced $main_count + $dlq_count records in $secs s ($(((main_count + dlq_count) / (secs > 0 ? secs : 1))) records/s)"
[ "$main_count" = "$N" ] && [ "$dlq_count" = "$M" ] || { echo "console-bench: expected $N + $M produced" >&2; exit 1; }
# End offsets: exactly N and M records in the topics (a retried send would show here).
for pair in "$TOPIC:$N" "$DLQ:$M"; do
  t=${pair%:*} want=${pair##*:}
  have=$(bash scripts/broker.sh tool GetOffsetShell --bootstrap-server "$BOOTSTRAP" --topic "$t" --time -1 |
    awk -F: '{s += $NF} END {print s + 0}')
  [ "$have" = "$want" ] || { echo "console-bench: $t holds $have records, expected $want" >&2; exit 1; }
done

# 5. a quiet machine
[ "${CONSOLE_BENCH_NO_WAIT:-}" = 1 ] || python3 "$HELPER" wait-idle --max-minutes 40
echo "console-bench: load average before timing: $(cut -d' ' -f1-3 /proc/loadavg)"
pick_bin # a release build may have finished meanwhile: time the binary chosen now

# 6. the readers
echo "console-bench: timing ($ROUNDS rounds; weft: $BIN; ConsoleConsumer: JVM start included)"
mkdir -p "$(dirname "$OUT")"
BROKER_PID=$(cat "${WEFT_HOME:-$HOME/.weft}/run/kafka-9092/pid" 2>/dev/null || true)
python3 "$HELPER" bench --weft "$BIN" --registry "$REG" --topic "$TOPIC" --dlq "$DLQ" \
  --ids "$WORK/event-ids" --n "$N" --m "$M" --rounds "$ROUNDS" --bootstrap "$BOOTSTRAP" --out "$OUT" \
  ${BROKER_PID:+--broker-pid "$BROKER_PID"} \
  --max-other-cores "$([ "${CONSOLE_BENCH_NO_WAIT:-}" = 1 ] && echo 0 || echo "${CONSOLE_BENCH_MAX_OTHER_CORES:-0.3}")"
echo "console-bench: figures in $OUT (weft binary $BIN, N=$N, M=$M)"
