#!/usr/bin/env bash
# The backfill rate of a topic migration (docs/migration.md): N v1 inventory events are written to
# composerp.inventory.updated.v1 on a fresh local node, then `weft migrate mirror --until-caught-up`
# copies them into v2 (exactly once, stamped); prints records/s and CPU seconds per 100,000
# records of the mirror process. Release build.
#
#   bash scripts/migration-bench.sh [N]      default 100000
#
# The local node is started fresh (its data formatted), so the real topic names are used; a
# registry is started on 127.0.0.1:18081 for the run and stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
bash scripts/setup.sh >/dev/null
cargo build --release --bin weft 2>&1 | tail -1
W=target/release/weft
bash scripts/broker.sh stop >/dev/null 2>&1 || true
bash scripts/broker.sh start
work=$(mktemp -d)
$W registry serve --listen 127.0.0.1:18081 >"$work/registry.log" 2>&1 &
registry=$!
trap 'kill $registry 2>/dev/null || true; rm -rf "$work"' EXIT
export WEFT_REGISTRY_URL=http://127.0.0.1:18081
for _ in $(seq 1 100); do
  curl -sf "$WEFT_REGISTRY_URL/subjects" >/dev/null && break
  sleep 0.1
done
$W topics apply --max-replication-factor 1 >/dev/null
$W schemas register --registry-url "$WEFT_REGISTRY_URL" >/dev/null
python3 - "$N" >"$work/events.jsonl" <<'EOF'
import json, sys, uuid
items = [str(uuid.uuid4()) for _ in range(500)]
for n in range(int(sys.argv[1])):
    print(json.dumps({"payload": {
        "position_id": str(uuid.uuid4()), "item_id": items[n % len(items)],
        "location_id": "2f3e4d5c-6b7a-4899-8a7b-6c5d4e3f2a1b",
        "on_hand": f"{n % 1000 + 5}.0000", "available": f"{n % 1000}.0000",
        "transaction_id": str(uuid.uuid4()), "transaction_type": "SALE"}}))
EOF
$W produce composerp.inventory.updated.v1 --file "$work/events.jsonl" >/dev/null
echo "backlog: $N v1 events"
start=$(date +%s.%N)
/usr/bin/time -f "%U %S %M" -o "$work/time" \
  $W migrate mirror composerp.inventory.updated --until-caught-up 2>"$work/mirror.log"
end=$(date +%s.%N)
read -r user sys rss <"$work/time"
grep -E "stopped" "$work/mirror.log" || true
python3 - "$N" "$start" "$end" "$user" "$sys" "$rss" <<'EOF'
import sys
n, start, end, user, sys_, rss = int(sys.argv[1]), *map(float, sys.argv[2:6]), int(sys.argv[6])
wall = end - start
print(f"mirror: {n} records in {wall:.1f} s = {n / wall:,.0f} records/s; "
      f"CPU {(user + sys_) / n * 100000:.2f} s per 100,000 records; peak RSS {rss // 1024} MB")
EOF
