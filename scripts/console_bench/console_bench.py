#!/usr/bin/env python3
"""Helper of scripts/console-bench.sh (standard library only).

Subcommands:
  schema AVRO_DIR                 the registration body of b2b.order.OrderPlaced with
                                  weft.common.EventMetadata inlined (the registry refuses references)
  gen N OUT IDS [--seed S]        N realistic OrderPlaced values as JSONL (metadata given, so every
                                  record has a distinct event id and order id); event ids to IDS
  wait-idle [--max-minutes 40]    until no cargo and no scripts/test.sh process runs (every 5 s)
  bench --weft BIN --registry URL --topic T --dlq D --ids F --n N --m M [--rounds 3] [--out J]
                                  times the readers in rounds (A B C D E A B C D E ...), each a child
                                  process, prints the table, writes the figures as JSON to J; exit 1
                                  when a reader failed or read another number of records
"""
import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone


# --- schema ------------------------------------------------------------------------------------------

def inline_schema(avro_dir):
    with open(os.path.join(avro_dir, "b2b/order/OrderPlaced.avsc")) as f:
        placed = json.load(f)
    with open(os.path.join(avro_dir, "common/EventMetadata.avsc")) as f:
        meta = json.load(f)
    name = "weft.common.EventMetadata"
    done = [False]

    def walk(node):
        # Replaces the first use of the name as a type by the record's definition; later uses
        # stay references by name, which Avro resolves within one schema.
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("type", "items", "values") and v == name and not done[0]:
                    node[k] = meta
                    done[0] = True
                elif k in ("type", "items", "values") and isinstance(v, list):
                    for i, b in enumerate(v):
                        if b == name and not done[0]:
                            v[i] = meta
                            done[0] = True
                        else:
                            walk(b)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(placed)
    if not done[0]:
        sys.exit(f"console_bench: {name} is not used in OrderPlaced.avsc")
    return placed


def cmd_schema(a):
    print(json.dumps({"schemaType": "AVRO", "schema": json.dumps(inline_schema(a.avro_dir))}))


# --- records -----------------------------------------------------------------------------------------

CITIES = [
    ("San Francisco", "CA", "941"), ("Austin", "TX", "787"), ("Seattle", "WA", "981"),
    ("Chicago", "IL", "606"), ("Denver", "CO", "802"), ("Boston", "MA", "021"),
    ("Atlanta", "GA", "303"), ("Portland", "OR", "972"), ("Newark", "NJ", "071"),
]
STREETS = ["Business St", "Market St", "Industrial Way", "Commerce Blvd", "Harbor Rd", "Main St"]
FIRST = ["John", "Maria", "Wei", "Aisha", "Lars", "Priya", "Carlos", "Yuki", "Fatima", "Tom"]
LAST = ["Doe", "Garcia", "Chen", "Khan", "Larsen", "Patel", "Silva", "Sato", "Haddad", "Miller"]
PRODUCTS = ["Pallet Jack", "Safety Gloves", "Shelf Unit", "Label Printer", "Packing Tape",
            "Barcode Scanner", "Stretch Film", "Cable Ties", "Work Bench", "Storage Bin"]
SIZES = ["S", "M", "L", "XL"]
COLOURS = ["BLUE", "RED", "BLACK", "GREY"]
NOTES = ["Deliver to loading dock", "Call before delivery", "Gate code 4411", "Leave at reception"]


def money(cents):
    # decimal(18,4) as the console's plain JSON: a string with its scale
    return {"amount": f"{cents // 100}.{cents % 100:02d}00", "currency": "USD"}


def cmd_gen(a):
    rnd = random.Random(a.seed)
    u = lambda: str(uuid.UUID(int=rnd.getrandbits(128), version=4))  # noqa: E731
    buyers = [(u(), f"{rnd.choice(FIRST).lower()}.{rnd.choice(LAST).lower()}{i}@example.com")
              for i in range(2000)]
    catalogue = []
    for i in range(400):
        name = rnd.choice(PRODUCTS)
        variant = u() if rnd.random() < 0.6 else None
        sku = f"PROD-{i:03d}" + (f"-{rnd.choice(SIZES)}-{rnd.choice(COLOURS)}" if variant else "")
        catalogue.append((u(), variant, sku, name, rnd.randint(199, 49999)))
    start = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)
    with open(a.out, "w") as out, open(a.ids, "w") as ids:
        for n in range(a.n):
            event_id = u()
            user_id, email = rnd.choice(buyers)
            items, sub = [], 0
            for (pid, vid, sku, name, price) in rnd.sample(catalogue, rnd.randint(1, 4)):
                q = rnd.randint(1, 12)
                items.append({"product_id": pid, "variant_id": vid, "sku": sku, "product_name": name,
                              "quantity": q, "unit_price": money(price), "subtotal": money(price * q)})
                sub += price * q
            tax = sub * 8 // 100
            ship = rnd.choice([0, 1000, 2500])
            disc = sub // 20 if rnd.random() < 0.2 else None
            city, state, zip3 = rnd.choice(CITIES)
            at = start + timedelta(milliseconds=n * 250 + rnd.randint(0, 249))
            value = {
                "metadata": {
                    "event_id": event_id,
                    "event_type": "order.placed",
                    "event_version": "1.0",
                    "occurred_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "producer": "ecommerce-api",
                    "producer_version": "2.14.1",
                    "producer_instance": f"ecommerce-api-{rnd.randint(0, 5)}",
                    "correlation_id": event_id,
                    "priority": "critical",
                    "user_id": user_id,
                    "session_id": u(),
                    "environment": "production",
                },
                "payload": {
                    "order_id": u(),
                    "order_number": f"ORD-2026-11-{n + 1:06d}",
                    "user_id": user_id,
                    "user_email": email,
                    "items": items,
                    "shipping_address": {
                        "street": f"{rnd.randint(1, 9999)} {rnd.choice(STREETS)}",
                        "city": city, "state": state,
                        "postal_code": f"{zip3}{rnd.randint(0, 99):02d}", "country": "US",
                        "contact_name": f"{rnd.choice(FIRST)} {rnd.choice(LAST)}",
                        "contact_phone": f"+1-555-{rnd.randint(0, 9999):04d}",
                    },
                    "po_number": f"PO-{rnd.randint(100000, 999999)}" if rnd.random() < 0.5 else None,
                    "notes": rnd.choice(NOTES) if rnd.random() < 0.3 else None,
                    "subtotal": money(sub),
                    "tax": money(tax),
                    "shipping": money(ship),
                    "discount": money(disc) if disc is not None else None,
                    "total": money(sub + tax + ship - (disc or 0)),
                },
            }
            out.write(json.dumps(value, separators=(",", ":")) + "\n")
            ids.write(event_id + "\n")


# --- waiting for a quiet machine ---------------------------------------------------------------------

def busy_processes():
    """cargo and scripts/test.sh processes, by their argv (not `pgrep -f cargo`: the sandbox's own
    processes carry PATH=...:.cargo/bin on their command lines), never this script's ancestors."""
    mine, pid = set(), os.getpid()
    while pid > 1:
        mine.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in mine:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = [x.decode(errors="replace") for x in f.read().split(b"\0") if x]
        except OSError:
            continue
        if not argv:
            continue
        if os.path.basename(argv[0]) == "cargo" or any(
            x == "scripts/test.sh" or x.endswith("/scripts/test.sh") for x in argv[:3]
        ):
            found.append(f"{d} {' '.join(argv)[:100]}")
    return found


def cmd_wait_idle(a):
    deadline = time.monotonic() + a.max_minutes * 60
    said = False
    while True:
        busy = busy_processes()
        if not busy:
            return
        if time.monotonic() > deadline:
            sys.exit(f"console_bench: still busy after {a.max_minutes} min: {busy}")
        if not said:
            print(f"waiting for a quiet machine (every 5 s, up to {a.max_minutes} min): "
                  + "; ".join(busy), flush=True)
            said = True
        time.sleep(5)


# --- timing ------------------------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_s():
    """CPU seconds every core spent busy since boot (/proc/stat, all but idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / TICK


def process_cpu_s(pid):
    """user+sys CPU seconds of a live process (its threads included), 0 when it is gone."""
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def self_cpu_s():
    t = os.times()
    return t.user + t.system


def other_cores(broker_pid, seconds):
    """Cores used by everything but the broker and this helper over `seconds`."""
    b0, k0, s0, t0 = machine_busy_s(), process_cpu_s(broker_pid), self_cpu_s(), time.monotonic()
    time.sleep(seconds)
    other = (machine_busy_s() - b0) - (process_cpu_s(broker_pid) - k0) - (self_cpu_s() - s0)
    return max(0.0, other) / (time.monotonic() - t0)


def wait_quiet(broker_pid, max_other, deadline):
    """Until no cargo / scripts/test.sh runs and the rest of the machine uses under `max_other`
    cores over 3 s; False when `deadline` passed first."""
    said = False
    while time.monotonic() < deadline:
        busy = busy_processes()
        load = other_cores(broker_pid, 3) if not busy else None
        if not busy and load < max_other:
            return True
        if not said:
            print("    waiting for a quiet machine: "
                  + ("; ".join(busy) if busy else f"other processes use {load:.2f} cores"),
                  flush=True)
            said = True
        time.sleep(2)
    return False


def run_one(reader, env, broker_pid=None):
    """Runs one reader as a child; returns wall s, CPU s (user+sys of it and its reaped
    descendants, from wait4), peak RSS MB and the records it read."""
    count_mode = reader["count"]
    err = tempfile.TemporaryFile()
    stdout = subprocess.PIPE if count_mode in ("lines", "trace", "dlq") else subprocess.DEVNULL
    busy0, broker0, self0 = machine_busy_s(), process_cpu_s(broker_pid), self_cpu_s()
    t0 = time.monotonic()
    p = subprocess.Popen(reader["argv"], stdout=stdout, stderr=err, stdin=subprocess.DEVNULL,
                         env=env)
    lines, head = [0], []

    def drain():
        keep = count_mode in ("trace", "dlq")
        while True:
            b = p.stdout.read(1 << 20)
            if not b:
                return
            lines[0] += b.count(b"\n")
            if keep:
                head.append(b)

    th = None
    if stdout == subprocess.PIPE:
        th = threading.Thread(target=drain)
        th.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if th:
        th.join()
    cpu = ru.ru_utime + ru.ru_stime
    broker_cpu = process_cpu_s(broker_pid) - broker0
    # Whatever else ran meanwhile: the machine's busy time minus the reader, the broker and this
    # helper (counting its output). Above the threshold the run is repeated.
    other = (machine_busy_s() - busy0) - cpu - broker_cpu - (self_cpu_s() - self0)
    err.seek(0)
    errtext = err.read().decode(errors="replace")
    res = {"wall": wall, "cpu": cpu, "rss_mb": ru.ru_maxrss / 1024, "broker_cpu": broker_cpu,
           "other_cores": max(0.0, other) / wall,
           "rc": p.returncode, "records": None, "stderr": errtext[-600:]}
    out = b"".join(head).decode(errors="replace")
    try:
        if count_mode == "lines":
            res["records"] = lines[0]
        elif count_mode == "trace":
            res["records"] = json.loads(out)["scanned_records"]
        elif count_mode == "dlq":
            dec, i, total = json.JSONDecoder(), 0, 0
            while i < len(out):
                while i < len(out) and out[i].isspace():
                    i += 1
                if i >= len(out):
                    break
                doc, i = dec.raw_decode(out, i)
                total += doc["records"]
            res["records"] = total
        elif count_mode == "console-consumer":
            m = re.search(r"Processed a total of (\d+) messages", errtext)
            res["records"] = int(m.group(1)) if m else None
    except (ValueError, KeyError) as e:
        res["stderr"] += f"\n(output not understood: {e}: {out[:300]!r})"
    return res


def fmt_int(x):
    return f"{x:,.0f}"


def readers_of(a):
    """The readers, in the order each round runs them."""
    esc = lambda t: re.escape(t).replace("\\-", "-")  # noqa: E731
    cc = ["bash", "scripts/broker.sh", "tool", "ConsoleConsumer", "--bootstrap-server", a.bootstrap,
          "--from-beginning", "--timeout-ms", "30000"]
    readers = [
        {"name": "weft consume -o jsonl (decodes)", "count": "lines", "expect": a.n,
         "baseline": "ConsoleConsumer (topic)",
         "argv": [a.weft, "consume", a.topic, "--registry-url", a.registry, "--from", "beginning",
                  "-n", str(a.n), "-o", "jsonl"]},
        {"name": "weft trace <event id> (scans all)", "count": "trace", "expect": a.n,
         "baseline": "ConsoleConsumer (topic)", "random_event_id_from": a.ids,
         "argv": [a.weft, "trace", "{EVENT_ID}", "--registry-url", a.registry,
                  "--topics", esc(a.topic), "-o", "json"]},
        {"name": "weft dlq list (headers only)", "count": "dlq", "expect": a.m,
         "baseline": "ConsoleConsumer (dlq)",
         "argv": [a.weft, "dlq", "list", "--pattern", esc(a.dlq), "-o", "json"]},
        {"name": "ConsoleConsumer (topic)", "count": "console-consumer", "expect": a.n,
         "is_baseline": True,
         "argv": cc + ["--topic", a.topic, "--max-messages", str(a.n)]},
    ]
    if a.m:
        readers.append({"name": "ConsoleConsumer (dlq)", "count": "console-consumer", "expect": a.m,
                        "is_baseline": True,
                        "argv": cc + ["--topic", a.dlq, "--max-messages", str(a.m)]})
    return readers


def cmd_bench(a):
    readers, rounds = readers_of(a), a.rounds
    env = dict(os.environ, NO_COLOR="1")
    results = {r["name"]: [] for r in readers}
    failed, contended = [], []
    deadline = time.monotonic() + a.max_wait_minutes * 60
    for rnd_no in range(1, rounds + 1):
        for r in readers:
            argv = list(r["argv"])
            if r.get("random_event_id_from"):
                with open(r["random_event_id_from"]) as f:
                    ids = f.read().split()
                argv = [random.choice(ids) if x == "{EVENT_ID}" else x for x in argv]
            for attempt in range(1, a.attempts + 1):
                if a.max_other_cores > 0:
                    wait_quiet(a.broker_pid, a.max_other_cores, deadline)
                res = run_one(dict(r, argv=argv), env, a.broker_pid)
                res["contended"] = a.max_other_cores > 0 and res["other_cores"] > a.max_other_cores
                if not res["contended"] or attempt == a.attempts:
                    break
                print(f"    {r['name']}: other processes used {res['other_cores']:.2f} cores "
                      f"during the run ({res['wall']:.1f} s); repeating", flush=True)
            if res["contended"]:
                contended.append(f"{r['name']} round {rnd_no}")
            ok = res["rc"] == 0 and res["records"] == r["expect"]
            rate = res["records"] / res["wall"] if res["records"] else 0.0
            print(f"  round {rnd_no} {r['name']:<34} {res['wall']:7.2f} s wall "
                  f"{res['cpu']:7.2f} s CPU {res['rss_mb']:6.0f} MB  "
                  f"{res['records']} records ({fmt_int(rate)}/s); broker {res['broker_cpu']:.2f} s CPU"
                  + (f"; CONTENDED ({res['other_cores']:.2f} other cores)" if res["contended"] else "")
                  + ("" if ok else f"  FAILED (exit {res['rc']}, expected {r['expect']} records)"),
                  flush=True)
            if not ok:
                failed.append(r["name"])
                sys.stderr.write(f"--- {r['name']} round {rnd_no}: {' '.join(argv)}\n{res['stderr']}\n")
            res["rate"] = rate
            res["ok"] = ok
            res["argv"] = argv
            results[r["name"]].append(res)

    def summary(name):
        rs = results[name]
        rates = [x["rate"] for x in rs]
        expect = next(r["expect"] for r in readers if r["name"] == name)
        cpu100k = statistics.median(x["cpu"] for x in rs) / expect * 100000 if expect else 0
        return {
            "rate_median": statistics.median(rates), "rate_min": min(rates), "rate_max": max(rates),
            "wall_median": statistics.median(x["wall"] for x in rs),
            "cpu_median": statistics.median(x["cpu"] for x in rs),
            "cpu_per_100k": cpu100k,
            "rss_mb": max(x["rss_mb"] for x in rs),
            "broker_cpu_per_100k": statistics.median(x["broker_cpu"] for x in rs) / expect * 100000
            if expect else 0,
            "records": expect,
        }

    sums = {r["name"]: summary(r["name"]) for r in readers}
    base = {r["name"]: r.get("baseline") for r in readers}
    header = ("| reader | records | records/s median (min-max) | wall s | CPU s / 100k | "
              "CPU/wall | broker CPU s / 100k | peak RSS MB | vs ConsoleConsumer (records/s) |")
    lines = [header, "|" + "---|" * 9]
    for r in readers:
        s = sums[r["name"]]
        b = base[r["name"]]
        ratio = (f"{s['rate_median'] / sums[b]['rate_median']:.2f}x" if b and sums[b]["rate_median"]
                 else "baseline" if r.get("is_baseline") else "-")
        lines.append(
            f"| {r['name']} | {fmt_int(s['records'])} | {fmt_int(s['rate_median'])} "
            f"({fmt_int(s['rate_min'])}-{fmt_int(s['rate_max'])}) | {s['wall_median']:.2f} | "
            f"{s['cpu_per_100k']:.2f} | {s['cpu_median'] / s['wall_median']:.2f} | "
            f"{s['broker_cpu_per_100k']:.2f} | {s['rss_mb']:.0f} | {ratio} |")
    table = "\n".join(lines)
    print()
    print(table)
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"summary": sums, "rounds": results, "table": table,
                       "contended": contended}, f, indent=1)
    if contended:
        print(f"\nContended (other processes used over {a.max_other_cores} cores even after "
              f"{a.attempts} attempts): {', '.join(contended)}")
    if failed:
        print(f"\nFAILED: {', '.join(sorted(set(failed)))}", file=sys.stderr)
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("schema")
    p.add_argument("avro_dir")
    p.set_defaults(fn=cmd_schema)
    p = sub.add_parser("gen")
    p.add_argument("n", type=int)
    p.add_argument("out")
    p.add_argument("ids")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(fn=cmd_gen)
    p = sub.add_parser("wait-idle")
    p.add_argument("--max-minutes", type=float, default=40)
    p.set_defaults(fn=cmd_wait_idle)
    p = sub.add_parser("bench")
    for k in ("weft", "registry", "topic", "dlq", "ids"):
        p.add_argument(f"--{k}", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--m", type=int, required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--broker-pid", type=int, default=None)
    p.add_argument("--max-other-cores", type=float, default=0.3,
                   help="repeat a run when the rest of the machine used more (0: never)")
    p.add_argument("--attempts", type=int, default=4)
    p.add_argument("--max-wait-minutes", type=float, default=40)
    p.add_argument("--out")
    p.set_defaults(fn=cmd_bench)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
