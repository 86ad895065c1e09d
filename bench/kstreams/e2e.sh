#!/usr/bin/env bash
# End-to-end check of the Kafka Streams peer against weft's own processor, on a real broker:
#
#   bash bench/kstreams/e2e.sh [BOOTSTRAP] [EVENTS]      (defaults 127.0.0.1:9092, 3000)
#
# 1. starts `weft registry serve --store memory` (port $WEFT_E2E_REGISTRY_PORT, default 18099) and
#    registers the schemas (`weft schemas register`); takes the self-contained input and output
#    schemas and the output id from it, as the bench harness does;
# 2. creates private topics `kse2e-<id>.…` (6 partitions) and produces EVENTS varied OrderPlaced
#    events with `weft produce` (unicode, decimals at the edges of decimal(18,4), trace ids valid
#    and not, blank e-mails = poison), 200 + 100 more with a valid / an invalid `traceparent`
#    header, and 2 undecodable records;
# 3. runs `weft run b2b.notification-worker --topic-prefix kse2e-<id>.` and the peer with
#    exactly_once_v2 and with at_least_once on that same input, each until its group has no lag,
#    then SIGTERM (the peer must have printed READY and exit 0);
# 4. compares: decoded by `weft consume` field by field (e2e/compare.py) and byte for byte
#    (partition, key, framed value, headers but traceparent's value; e2e/E2e.java dump).
#
# Prints `e2e: PASS` and exits 0, or says what differs and exits 1. Topics are left behind.
# WEFT_BIN picks the weft binary (default target/release/weft if built, else target/debug/weft).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/bench/kstreams"
B=${1:-127.0.0.1:9092}
N=${2:-3000}
cd "$root"
if [[ -z "${WEFT_BIN:-}" ]]; then
  WEFT_BIN=target/debug/weft
  [[ -x target/release/weft ]] && WEFT_BIN=target/release/weft
fi
W=$WEFT_BIN
port=${WEFT_E2E_REGISTRY_PORT:-18099}
R=http://127.0.0.1:$port
id=$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
P="kse2e-$id."
work=$(mktemp -d /tmp/kstreams-e2e-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
say() { echo "e2e: $*"; }
fail() { echo "e2e: FAIL: $*" >&2; exit 1; }

cp=$(bash "$here/build.sh")
helper() { java -cp "$cp" "$here/e2e/E2e.java" "$@" 2> >(grep -v -e WARN -e '^\s*at ' >&2); }

# 1. registry and schemas
"$W" registry serve --listen 127.0.0.1:$port --store memory >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "$R/subjects" >/dev/null && break; sleep 0.1; done
"$W" schemas register --registry-url "$R" >"$work/register.log"
fetch() { curl -sf "$R/subjects/$1/versions/latest" | python3 -c "import json,sys; d=json.load(sys.stdin); open(sys.argv[1],'w').write(d['schema']); print(d['id'])" "$2"; }
in_id=$(fetch b2b.order.placed.v1-value "$work/in.avsc")
out_id=$(fetch b2b.email.notification-requested.v1-value "$work/out.avsc")
reg() { python3 -c "import json,sys; print(json.dumps({'schema': open(sys.argv[1]).read()}))" "$2" |
  curl -sf -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' --data @- "$R/subjects/$1/versions" >/dev/null; }
reg "${P}b2b.order.placed.v1-value" "$work/in.avsc"
for t in b2b.email.notification-requested.v1 kstreams.eos.out kstreams.alo.out; do reg "$P$t-value" "$work/out.avsc"; done
say "registry $R: input schema id $in_id, output schema id $out_id; topics ${P}*; work dir $work"

# 2. topics and inputs
topics=()
for t in b2b.order.placed.v1 b2b.order.cancelled.v1 b2b.order.shipped.v1 b2b.email.notification-requested.v1 \
  b2b.notification-worker.retry.{1s,2s,4s,8s,16s} b2b.notification-worker.dlq kstreams.eos.out kstreams.alo.out; do
  topics+=("$P$t")
done
helper create "$B" 6 "${topics[@]}"
IN="${P}b2b.order.placed.v1"
python3 "$here/e2e/gen_orders.py" "$N" 17 >"$work/orders.jsonl"
python3 "$here/e2e/gen_orders.py" 200 99 >"$work/orders-tp-valid.jsonl"
python3 "$here/e2e/gen_orders.py" 100 5 >"$work/orders-tp-invalid.jsonl"
prod() { "$W" produce "$IN" --bootstrap-servers "$B" --registry-url "$R" -o jsonl "$@"; }
prod --file "$work/orders.jsonl" >"$work/in-plain.log"
prod --file "$work/orders-tp-valid.jsonl" --header traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 >"$work/in-tp-valid.log"
prod --file "$work/orders-tp-invalid.jsonl" --header traceparent=00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01 >"$work/in-tp-invalid.log"
helper garbage "$B" "$IN"
total=$((N + 302))
say "produced $total inputs to $IN"

drained() { # drained GROUP: all 6 input partitions committed to their end
  local out
  out=$("$W" lag --bootstrap-servers "$B" --group "$1" 2>/dev/null) || return 1
  [[ "$(head -1 <<<"$out")" == *"total lag 0"* && "$(grep -c "$IN " <<<"$out")" == 6 ]]
}
wait_drained() {
  for _ in $(seq 1 600); do drained "$1" && return 0; sleep 0.5; done
  fail "group $1 did not drain $IN within 300 s"
}

# 3a. weft's own processor
"$W" run b2b.notification-worker --bootstrap-servers "$B" --registry-url "$R" --topic-prefix "$P" \
  --metrics-listen off --instance-id "e2e-$id" --sink-dir "$work/sinks" >"$work/weft-run.log" 2>&1 &
wpid=$!
pids+=($wpid)
wait_drained "${P}b2b.notification-worker"
kill -TERM $wpid
wait $wpid || fail "weft run exited $? (see $work/weft-run.log)"
say "weft: $(tail -1 "$work/weft-run.log")"

# 3b. the peer, both guarantees
for g in exactly_once_v2:eos at_least_once:alo; do
  guarantee=${g%%:*} tag=${g##*:}
  app="${P}kstreams-$tag"
  java -cp "$cp" dev.weft.bench.KStreamsPeer --bootstrap "$B" --application-id "$app" --input "$IN" \
    --output "${P}kstreams.$tag.out" --input-schema "$work/in.avsc" --output-schema "$work/out.avsc" \
    --output-schema-id "$out_id" --input-schema-id "$in_id" --guarantee "$guarantee" \
    >"$work/$tag.stdout" 2>"$work/$tag.stderr" &
  kpid=$!
  pids+=($kpid)
  started=$(date +%s%N)
  for _ in $(seq 1 1200); do
    grep -q READY "$work/$tag.stdout" && break
    kill -0 $kpid 2>/dev/null || fail "peer ($guarantee) exited before READY: $(tail -3 "$work/$tag.stderr")"
    sleep 0.1
  done
  grep -qx READY "$work/$tag.stdout" || fail "peer ($guarantee) printed no READY"
  ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))
  wait_drained "$app"
  kill -TERM $kpid
  rc=0
  wait $kpid || rc=$?
  [[ $rc == 0 ]] || fail "peer ($guarantee) exited $rc after SIGTERM: $(tail -3 "$work/$tag.stderr")"
  [[ "$(cat "$work/$tag.stdout")" == READY ]] || fail "peer ($guarantee) printed more than READY on stdout"
  say "peer $guarantee: READY after $ready_ms ms, exit 0 on SIGTERM; $(grep '^kstreams-peer: stats' "$work/$tag.stderr")"
done

# 4. compare
expected=$(grep -c . "$work/in-plain.log" "$work/in-tp-valid.log" "$work/in-tp-invalid.log" | awk -F: '{s+=$2} END {print s}')
consume() { "$W" consume "$1" --bootstrap-servers "$B" --registry-url "$R" -o jsonl -n 1000000 >"$2"; }
consume "${P}b2b.email.notification-requested.v1" "$work/weft.jsonl"
n=$(wc -l <"$work/weft.jsonl")
(( n > 0 && n < expected )) || fail "weft produced $n outputs for $expected decodable inputs (some are poison)"
for tag in eos alo; do
  consume "${P}kstreams.$tag.out" "$work/$tag.jsonl"
  python3 "$here/e2e/compare.py" "$work/weft.jsonl" "$work/$tag.jsonl" \
    "$work/in-plain.log" "$work/in-tp-valid.log" "$work/in-tp-invalid.log" || fail "decoded outputs differ"
done
helper dump "$B" "${P}b2b.email.notification-requested.v1" | sort >"$work/weft.raw"
for tag in eos alo; do
  helper dump "$B" "${P}kstreams.$tag.out" | sort >"$work/$tag.raw"
  cmp -s "$work/weft.raw" "$work/$tag.raw" || fail "bytes differ: diff $work/weft.raw $work/$tag.raw"
done
say "$n outputs byte-identical to weft's (partition, key, framed Avro value, header names, order and values but traceparent's)"
say PASS
