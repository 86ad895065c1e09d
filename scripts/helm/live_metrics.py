#!/usr/bin/env python3
"""Scrapes the real /metrics of `weft run` so helm/tests can check the chart's alerts and dashboard
against the metric names and labels the runtime actually exports.

    python3 scripts/helm/live_metrics.py --out DIR [--bin target/debug/weft]

Self-contained and isolated from anything else on the machine:
  - its own Apache Kafka node, started by scripts/broker.sh on a free port (WEFT_BROKER_PORT), with
    fresh data, stopped and removed at the end: the processors' consumer groups are the real ones
    (the group id is the processor's name), so running them against a shared broker could join the
    groups of a test running there;
  - its own in-memory schema registry (`weft registry serve --store memory` on a free port);
  - topics and schemas provisioned with `weft topics apply --max-replication-factor 1` and
    `weft schemas register`, the commands the chart's provisioning hook runs.

Traffic, so that every metric family the runtime registers appears: viscount.inventory-service
gets a low-stock update (outputs), an impossible one (poison: dead letter, failure by tenant) and
one that occurred two hours ago (SLA breach); cypher.search-indexer gets a product update while its
sink directory cannot be created (transient: retry); the events carry tenant ids (the per-tenant
counters); composerp.replenishment-service (a keyed store) gets an inventory update in the first
run, so the second run restores its store from the changelog (the weft_state_* families); the
breaker's ratio gauge is set when a loop starts and the dead-letter age gauge when the
runtime's dead-letter watch first looks (at start). weft_consumer_lag comes from librdkafka's
statistics, which know a committed offset only after the group re-joins (the transactional producer
commits the offsets, not the consumer), so the processors run twice: a first run commits offsets,
the second one (a restart, like a pod's) is scraped.

Writes DIR/metrics.txt (the last scrape) and DIR/status.json: {"ok": true, "binary", "seconds",
"families", "missing"} or {"ok": false, "error"}; DIR/log.txt has the commands' output. Exit 0 when
the scrape has every family the runtime registers and exports (see --allow-missing), else 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROCESSORS = ["viscount.inventory-service", "cypher.search-indexer", "composerp.replenishment-service"]


def registered_families() -> set[str]:
    """Metric families crates/weft-runtime/src/metrics.rs registers (prefix weft_)."""
    text = (ROOT / "crates/weft-runtime/src/metrics.rs").read_text()
    names = set(re.findall(r'(?:counter|histogram|gauge)\(\s*&r,\s*"([a-z_]+)"', text))
    names |= set(re.findall(r'Opts::new\(\s*"([a-z_]+)"', text))
    return {f"weft_{n}" for n in names}


def free_port(step: int = 1, start: int = 29092) -> int:
    """A free port p (and p+1 when step > 1, for the Kafka node's controller)."""
    for port in range(start, start + 5000, step):
        ok = True
        for p in ([port, port + 1] if step > 1 else [port]):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
        if ok:
            return port
    raise RuntimeError("no free port")


class Scenario:
    def __init__(self, binary: Path, out: Path):
        self.binary = binary
        self.out = out
        self.log = open(out / "log.txt", "w")
        self.procs: list[subprocess.Popen] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="weft-helm-live-"))
        self.broker_port = free_port(step=100)
        self.env = dict(os.environ)
        self.env.update(
            WEFT_BOOTSTRAP_SERVERS=f"127.0.0.1:{self.broker_port}",
            WEFT_AVRO_DIR=str(ROOT / "avro"),
            WEFT_TOPICS_DIR=str(ROOT / "topics"),
            WEFT_LOG="warn",
            NO_COLOR="1",
        )
        for var in ("WEFT_SECURITY_PROTOCOL", "WEFT_SASL_MECHANISM", "WEFT_SASL_USERNAME",
                    "WEFT_SASL_PASSWORD", "WEFT_KAFKA_OPTIONS", "WEFT_REGISTRY_URL", "WEFT_INSTANCE_ID"):
            self.env.pop(var, None)

    def note(self, text: str) -> None:
        self.log.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")
        self.log.flush()

    def run(self, args: list[str], timeout: float, env=None) -> str:
        self.note("$ " + " ".join(args))
        done = subprocess.run(args, cwd=ROOT, env=env or self.env, capture_output=True, text=True,
                              timeout=timeout)
        self.log.write(done.stdout[-4000:] + done.stderr[-4000:])
        if done.returncode != 0:
            raise RuntimeError(f"`{' '.join(args[:4])}` exited {done.returncode}: {done.stderr.strip()[-600:]}")
        return done.stdout

    def weft(self, *args: str, timeout: float = 120) -> str:
        return self.run([str(self.binary), *args], timeout)

    def broker(self, action: str) -> None:
        env = dict(self.env, WEFT_BROKER_PORT=str(self.broker_port))
        env.pop("WEFT_BROKER_KEEP_DATA", None)
        self.run(["bash", "scripts/broker.sh", action], timeout=240, env=env)

    def start_registry(self) -> str:
        self.note("$ weft registry serve --store memory --listen 127.0.0.1:0")
        p = subprocess.Popen([str(self.binary), "registry", "serve", "--store", "memory", "--listen", "127.0.0.1:0"],
                             cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        m = re.search(r"http://[0-9.]+:[0-9]+", line)
        if not m:
            raise RuntimeError(f"the registry did not start: {line!r}")
        return m.group(0)

    def start_processors(self, registry: str, metrics_port: int) -> subprocess.Popen:
        # A regular file as the sink directory's parent: the search indexer's write fails
        # (transient), so its record goes to the first retry tier.
        blocker = self.tmp / "not-a-directory"
        blocker.write_text("")
        args = [str(self.binary), "run", *PROCESSORS, "--registry-url", registry,
                "--metrics-listen", f"127.0.0.1:{metrics_port}", "--sink-dir", str(blocker / "sinks"),
                "--instance-id", "helm-check"]
        self.note("$ " + " ".join(args))
        p = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log)
        self.procs.append(p)
        return p

    def get(self, url: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""
        except OSError:
            return 0, ""

    def wait(self, what: str, check, deadline: float, proc: subprocess.Popen | None = None):
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            result = check()
            if result:
                return result
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"weft run exited {proc.returncode} while waiting for {what} (see log.txt)")
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {deadline:.0f} s waiting for {what}")

    def produce(self, registry: str, topic: str, value: dict) -> None:
        self.weft("produce", topic, "--registry-url", registry, "--value", json.dumps(value), timeout=60)

    def stop(self, p: subprocess.Popen) -> int:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def scenario(self, allow_missing: set[str]) -> dict:
        started = time.monotonic()
        self.broker("start")
        registry = self.start_registry()
        self.weft("topics", "apply", "--max-replication-factor", "1", timeout=180)
        self.weft("schemas", "register", "--registry-url", registry)
        metrics_port = free_port(start=29464)
        base = f"http://127.0.0.1:{metrics_port}"

        def inventory(product: str, quantity: int, available: int, tenant: str, occurred_at: str | None = None):
            meta = {"tenant_id": tenant}
            if occurred_at:
                meta["occurred_at"] = occurred_at
            return {"metadata": meta, "payload": {
                "product_id": product, "location_id": "WH-1", "quantity": quantity,
                "reserved_quantity": quantity - available if 0 <= available <= quantity else 0,
                "available_quantity": available, "update_type": "restock"}}

        def consumed(text: str) -> float:
            return sum(float(v) for v in re.findall(r'^weft_consumed_total\{[^}]*\} ([0-9.e+]+)$', text, re.M))

        # First run: commit offsets for the group (see the module docs), then stop with SIGTERM.
        first = self.start_processors(registry, metrics_port)
        self.wait("the first run to be ready", lambda: self.get(base + "/health/ready")[0] == 200, 90, first)
        for n in range(3):
            self.produce(registry, "viscount.inventory.updated.v1", inventory(f"SKU-{n}", 100, 80, "tenant-a"))
        # A keyed store's write: the second run restores it from the changelog.
        self.produce(registry, "composerp.inventory.updated.v1", {"metadata": {"tenant_id": "tenant-a"}, "payload": {
            "position_id": "0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a", "item_id": "1e2d3c4b-5a69-4788-9a6b-5c4d3e2f1a0b",
            "location_id": "2f3e4d5c-6b7a-4899-8a7b-6c5d4e3f2a1b", "on_hand": "100.0000", "available": "85.0000",
            "transaction_id": "3a4b5c6d-7e8f-4091-a2b3-c4d5e6f7a8b9", "transaction_type": "SALE"}})
        self.wait("the first run to consume 4 records", lambda: consumed(self.get(base + "/metrics")[1]) >= 4, 60, first)
        code = self.stop(first)
        if code != 0:
            raise RuntimeError(f"weft run exited {code} after SIGTERM (expected 0)")

        # What the chart's helm test runs (with kafka.maxReplicationFactor=1), some seconds after
        # provisioning as in a cluster; created topics can take a moment to appear in the metadata, so
        # it is retried for up to 30 s (attempts recorded).
        check_env = dict(self.env, WEFT_MAX_REPLICATION_FACTOR="1")
        deadline, attempts = time.monotonic() + 30, 0
        while True:
            attempts += 1
            self.note(f"$ weft topics check (WEFT_MAX_REPLICATION_FACTOR=1), attempt {attempts}")
            check = subprocess.run([str(self.binary), "topics", "check"], cwd=ROOT, env=check_env,
                                   capture_output=True, text=True, timeout=120)
            self.log.write(check.stdout[-1000:] + check.stderr[-1000:])
            if check.returncode != 3 or time.monotonic() > deadline:
                break
            time.sleep(1)
        topics_check = {"exit": check.returncode, "attempts": attempts,
                        "output": (check.stdout + check.stderr).strip()[-600:]}

        # Second run: the scraped one.
        second = self.start_processors(registry, metrics_port)
        self.wait("the second run to be ready", lambda: self.get(base + "/health/ready")[0] == 200, 90, second)
        two_hours_ago = (datetime.now(timezone.utc) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.produce(registry, "viscount.inventory.updated.v1", inventory("SKU-LOW", 50, 4, "tenant-a"))
        self.produce(registry, "viscount.inventory.updated.v1", inventory("SKU-BAD", 5, 10, "tenant-b"))
        self.produce(registry, "viscount.inventory.updated.v1",
                     inventory("SKU-LATE", 60, 60, "tenant-a", occurred_at=two_hours_ago))
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.produce(registry, "cypher.product.updated.v1", {
            "metadata": {"tenant_id": "tenant-c"},
            "payload": {"product_id": "PRD-1", "sku": "SKU-1", "updated_at": now, "updated_by": "helm-check",
                        "change_type": "price_changed",
                        "product": {"id": "PRD-1", "name": "Pallet", "status": "active", "visibility": "visible"}}})

        expected = registered_families() - allow_missing
        text = ""

        def families_present():
            nonlocal text
            status, text = self.get(base + "/metrics")
            have = {m for m in re.findall(r"^# TYPE (\S+) ", text, re.M)}
            return have if expected <= have else None

        try:
            have = self.wait("every registered metric family in /metrics", families_present, 60, second)
        except RuntimeError:
            have = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
        (self.out / "metrics.txt").write_text(text)
        # What the runtime reports as lag once everything is consumed, against the group's real
        # lag (committed offsets vs end offsets, as `weft lag` reads them): an observation for the
        # report, not a check of the chart.
        self.wait("the second run to consume its 3 inventory records",
                  lambda: consumed(self.get(base + "/metrics")[1]) >= 4, 30, second)
        time.sleep(6)  # one more statistics interval (5 s)
        lag_text = self.get(base + "/metrics")[1]
        metric_lag = sum(float(v) for v in re.findall(
            r'^weft_consumer_lag\{[^}]*processor="viscount.inventory-service"[^}]*\} ([0-9.e+-]+)$', lag_text, re.M))
        code = self.stop(second)
        group = json.loads(self.weft("lag", "--group", "viscount.inventory-service", "--output", "json"))
        missing = sorted(expected - have)
        return {
            "ok": not missing and code == 0,
            "binary": str(self.binary),
            "seconds": round(time.monotonic() - started, 1),
            "families": sorted(have),
            "registered": sorted(registered_families()),
            "missing": missing,
            "exit_after_sigterm": code,
            "topics_check": topics_check,
            "lag_check": {"weft_consumer_lag_sum": metric_lag, "weft_lag_total": group.get("total_lag")},
            "error": f"missing after 60 s: {', '.join(missing)}" if missing else None,
        }

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        try:
            self.broker("stop")
        except Exception as e:  # noqa: BLE001 - reported, cleanup goes on
            self.note(f"stopping the broker: {e}")
        home = Path(os.environ.get("WEFT_HOME", Path.home() / ".weft"))
        shutil.rmtree(home / "run" / f"kafka-{self.broker_port}", ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.log.close()


def find_binary(given: str | None) -> Path | None:
    if given:
        return Path(given)
    if os.environ.get("WEFT_BIN"):
        return Path(os.environ["WEFT_BIN"])
    found = [p for p in (ROOT / "target/release/weft", ROOT / "target/debug/weft") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--bin")
    ap.add_argument("--allow-missing", default="",
                    help="registered families not expected in the scrape (comma-separated), e.g. one "
                         "the runtime registers but never increments")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    status_file = args.out / "status.json"
    status_file.unlink(missing_ok=True)
    (args.out / "metrics.txt").unlink(missing_ok=True)
    binary = find_binary(args.bin)
    if binary is None or not binary.is_file():
        status = {"ok": False, "skipped": "no weft binary (target/debug/weft or target/release/weft)"}
        status_file.write_text(json.dumps(status))
        print(f"live_metrics.py: skipped: {status['skipped']}")
        return 0
    # Copy the binary: a cargo build replacing it mid-run must not change what runs.
    scenario = None
    try:
        scenario = Scenario(binary, args.out)
        copy = scenario.tmp / "weft"
        shutil.copy2(binary, copy)
        scenario.binary = copy
        status = scenario.scenario({n for n in args.allow_missing.split(",") if n})
        status["binary"] = str(binary)
    except Exception as e:  # noqa: BLE001 - every failure becomes the status the tests read
        status = {"ok": False, "binary": str(binary), "error": f"{type(e).__name__}: {e}"}
    finally:
        if scenario is not None:
            scenario.close()
    status_file.write_text(json.dumps(status, indent=1))
    print(f"live_metrics.py: {'ok' if status['ok'] else 'FAILED'}: {status.get('error') or ''} "
          f"({len(status.get('families', []))} families in {status.get('seconds', '?')} s)")
    return 0 if status["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
