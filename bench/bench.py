#!/usr/bin/env python3
"""The order-notify benchmark: the release server on a fresh database, seeded with 10k
orders and driven by wrk (peak throughput, closed loop) and oha (a fixed rate, open
loop, latency-corrected), next to the raw limit of the same database work measured in
the same run by `examples/raw_limit.rs`. Prints one table; `--json FILE` keeps the
figures. Run it through `bench/run`, which builds and installs what it needs."""

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
SERVER = os.environ.get("BENCH_SERVER", os.path.join(TARGET, "release", "order-notify"))
RAW_LIMIT = os.path.join(TARGET, "release", "examples", "raw_limit")
STUB = os.path.join(TARGET, "release", "examples", "stub_provider")
OPEN_LOOP = os.path.join(TARGET, "release", "examples", "open_loop")
ADMIN = "bench-admin-key-0123456789abcdef"
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
ORDERS = 10_000


def log(message):
    print(message, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {ADMIN}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Database:
    """A fresh database for one configuration: a SQLite file or a PostgreSQL database."""

    def __init__(self, kind, workdir):
        self.kind = kind
        if kind.startswith("sqlite"):
            self.path = os.path.join(workdir, f"{kind}-{time.time_ns()}.db")
            self.url = f"sqlite://{self.path}?mode=rwc"
            self.env = {"ORDER_NOTIFY_SQLITE_SYNCHRONOUS": "normal" if kind == "sqlite-normal" else "full"}
        else:
            self.name = f"order_notify_bench_{time.time_ns()}"
            subprocess.run(["psql", f"{POSTGRES}/postgres", "-qc", f"CREATE DATABASE {self.name}"], check=True)
            self.url = f"{POSTGRES}/{self.name}"
            self.env = {"ORDER_NOTIFY_DB_POOL_SIZE": "32"}

    @property
    def synchronous(self):
        return "normal" if self.kind == "sqlite-normal" else "full"

    def drop(self):
        if self.kind == "postgres":
            subprocess.run(["psql", f"{POSTGRES}/postgres", "-qc", f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)"], check=False)


class Server:
    def __init__(self, database, workdir, args=("serve", "--no-worker"), extra=None, binary=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            "PATH": os.environ["PATH"],
            "ORDER_NOTIFY_BIND": f"127.0.0.1:{self.port}",
            "ORDER_NOTIFY_DATABASE_URL": database.url,
            "ORDER_NOTIFY_ADMIN_KEY": ADMIN,
            "ORDER_NOTIFY_RATE_LIMIT": "0",
            # The load goes to a few numbers; a kitchen's texts go to many.
            "ORDER_NOTIFY_TEXTS_PER_RECIPIENT_PER_HOUR": "0",
            "RUST_LOG": "warn",
            **database.env,
            **(extra or {}),
        }
        started = time.perf_counter()
        self.process = subprocess.Popen([binary or SERVER, *args], cwd=workdir, env=env, stdout=subprocess.DEVNULL)
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.002)
        self.startup = time.perf_counter() - started

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def seed(base, count=ORDERS, notify=False):
    body = {"customer_name": "Bench Customer", "phone": "+31612345678",
            "items": [{"name": "Soup", "quantity": 1}]}
    if notify:
        body["notify"] = True

    def create(_):
        return http("POST", f"{base}/orders", body)["id"]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        return list(pool.map(create, range(count)))


def write_ids(ids, workdir):
    """Writes the orders' ids, one a line, where the load scripts read them; returns
    the file's path."""
    path = os.path.join(workdir, "ids.txt")
    with open(path, "w") as f:
        f.write("\n".join(ids) + "\n")
    return path


# ---------------------------------------------------------------- load generators

WRK_COMMON = """
local auth = "Bearer %(key)s"
ids = {}
for line in io.lines("%(ids)s") do ids[#ids + 1] = line end
local counter = 1
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
"""

WRK_SCRIPTS = {
    "list": """
function request()
  return wrk.format("GET", "/orders?limit=50", {["Authorization"] = auth})
end
""",
    "get": """
function request()
  return wrk.format("GET", "/orders/" .. ids[math.random(#ids)], {["Authorization"] = auth})
end
""",
    # Each wrk thread walks its own share of the orders, so no two requests in flight
    # touch one order: pending → confirmed, then delayed and back, each change texting.
    "status-change": """
local mine, next_status, position = {}, {}, 0
function request()
  if #mine == 0 then
    -- `tid` and `count` are set per thread by setup().
    for i = tid, #ids, count do mine[#mine + 1] = ids[i] end
  end
  position = position % #mine + 1
  local id = mine[position]
  local target = next_status[id] or "confirmed"
  next_status[id] = (target == "delayed") and "confirmed" or "delayed"
  return wrk.format("PATCH", "/orders/" .. id .. "/status",
    {["Authorization"] = auth, ["Content-Type"] = "application/json"},
    '{"status":"' .. target .. '"}')
end
""",
    "notify": """
function request()
  return wrk.format("POST", "/orders/" .. ids[math.random(#ids)] .. "/notifications",
    {["Authorization"] = auth, ["Content-Type"] = "application/json"}, "{}")
end
""",
}


def parse_duration_ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def wrk(scenario, base, ids_file, workdir, connections, seconds, threads=2):
    script = os.path.join(workdir, f"{scenario}.lua")
    with open(script, "w") as f:
        f.write(WRK_COMMON % {"key": ADMIN, "ids": ids_file} + WRK_SCRIPTS[scenario])
    # Each thread learns how many threads share the orders.
    with open(script, "a") as f:
        f.write(f'\nlocal _setup = setup\nfunction setup(thread) _setup(thread); thread:set("count", {threads}) end\n')
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", script, base],
        capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    return {"rps": rate, "p50_ms": parse_duration_ms(latency["50"]), "p99_ms": parse_duration_ms(latency["99"]),
            "errors": errors}


def oha(scenario, base, ids, rate, seconds):
    """A fixed request rate, open loop, with latency correction: p50/p99 as clients see it."""
    if scenario == "status-change":
        return None  # each change needs its order's current status: wrk's script only
    pool = "|".join(ids[:200])
    args = ["oha", "--no-tui", "--output-format", "json", "-z", f"{seconds}s", "-q", str(rate),
            "--latency-correction", "-c", "256", "-H", f"Authorization: Bearer {ADMIN}"]
    if scenario == "list":
        args.append(f"{base}/orders?limit=50")
    elif scenario == "get":
        args += ["--rand-regex-url", f"{base}/orders/({pool})"]
    elif scenario == "notify":
        args += ["-m", "POST", "-T", "application/json", "-d", "{}",
                 "--rand-regex-url", f"{base}/orders/({pool})/notifications"]
    out = json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
    percentiles = out["latencyPercentiles"]
    statuses = out.get("statusCodeDistribution", {})
    # oha cuts off the requests still in flight when the run's time is up and counts
    # each as an error ("aborted due to deadline"): the run ending, not the server.
    failures = {kind: n for kind, n in out.get("errorDistribution", {}).items() if kind != "aborted due to deadline"}
    errors = sum(n for code, n in statuses.items() if not code.startswith("2")) + sum(failures.values())
    return {"rate": rate, "p50_ms": percentiles["p50"] * 1000, "p99_ms": percentiles["p99"] * 1000, "errors": errors}


def open_loop(scenario, base, ids_file, rate, seconds, connections):
    """A fixed rate, open loop (bench's own generator, examples/open_loop.rs): each
    latency counts from when the request was due, on `connections` connections."""
    out = subprocess.run([OPEN_LOOP, base, ADMIN, ids_file, scenario, str(rate), str(seconds), str(connections)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def raw_limit(database_kind, scenario, workdir, seconds, driver="sqlx", per_commit=1):
    database = Database(database_kind, workdir)
    try:
        out = subprocess.run([RAW_LIMIT, database.url, scenario, str(seconds), database.synchronous,
                              driver, str(per_commit)],
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])["per_second"]
    finally:
        database.drop()


# ---------------------------------------------------------------- runs

def api_scenarios(kind, workdir, options, build, limits):
    """The scenarios against `build` (label, server binary) on a fresh `kind` database.
    `limits` keeps the raw limits measured, so a second build is compared with the same."""
    label, binary = build
    database = Database(kind, workdir)
    results = {"kind": kind, "build": label, "scenarios": {}}
    server = None
    try:
        server = Server(database, workdir, binary=binary)
        log(f"[{kind}] seeding {ORDERS} orders")
        ids = seed(server.base)
        ids_file = write_ids(ids, workdir)
        time.sleep(1)
        results["idle_rss_mib"] = rss_kib(server.process.pid) / 1024
        for scenario in options.scenarios:
            log(f"[{kind}] {scenario}: wrk c=64, {options.seconds} s")
            peak = wrk(scenario, server.base, ids_file, workdir, 64, options.seconds)
            # The fixed rate of the open-loop runs: half the peak.
            half = max(100, int(peak["rps"] * 0.5))
            fixed = None
            if shutil.which("oha"):
                log(f"[{kind}] {scenario}: oha at {half}/s")
                fixed = oha(scenario, server.base, ids, half, options.seconds)
            if (kind, scenario) not in limits:
                log(f"[{kind}] {scenario}: raw limit")
                raw = {"raw_per_second": raw_limit(kind, scenario, workdir, options.raw_seconds)}
                # SQLite's own limit: called directly (rusqlite), one write per commit
                # and, for writes, 32 per commit as the group commit gathers them. The
                # ratio is to the best of these, not to the old driver's limit.
                if kind.startswith("sqlite"):
                    raw["raw_rusqlite"] = raw_limit(kind, scenario, workdir, options.raw_seconds, "rusqlite")
                    if scenario in ("status-change", "notify"):
                        raw["raw_rusqlite_batched"] = raw_limit(kind, scenario, workdir, options.raw_seconds, "rusqlite", 32)
                limits[(kind, scenario)] = raw
            row = {"wrk_c64": peak, "oha": fixed, **limits[(kind, scenario)]}
            limit = max(row.get("raw_rusqlite_batched", 0), row.get("raw_rusqlite", 0)) or row["raw_per_second"]
            row["ratio"] = peak["rps"] / limit if limit else None
            if scenario == "status-change":
                for c in (16, 256):
                    log(f"[{kind}] {scenario}: wrk c={c}")
                    row[f"wrk_c{c}"] = wrk(scenario, server.base, ids_file, workdir, c, options.seconds)
                # The target's comparison: one fixed rate, half the peak, on 16 and on
                # 256 connections, latency from when each change was due.
                for c in (16, 256):
                    log(f"[{kind}] {scenario}: open loop at {half}/s on {c} connections")
                    row[f"open_c{c}"] = open_loop(scenario, server.base, ids_file, half, options.seconds, c)
            results["scenarios"][scenario] = row
        results["peak_rss_mib"] = rss_kib(server.process.pid, "VmHWM") / 1024
        server.stop()
        starts = []
        for _ in range(5):
            again = Server(database, workdir, binary=binary)
            starts.append(again.startup * 1000)
            again.stop()
        results["startup_ms"] = statistics.median(starts)
    finally:
        # A run that fails half-way must not leave its server running under the next.
        if server is not None and server.process.poll() is None:
            server.stop()
        database.drop()
    return results


def dispatch(workdir, options, build):
    """20k queued texts drained through a stub provider with 50 ms latency; then texts
    queued at a steady rate, for the enqueue → accepted latency."""
    label, binary = build
    port = free_port()
    stub = subprocess.Popen([STUB, str(port), "50"], stdout=subprocess.DEVNULL)
    concurrency = options.send_concurrency
    extra = {"ORDER_NOTIFY_SMS_PROVIDER": "messagebird", "ORDER_NOTIFY_MESSAGEBIRD_ACCESS_KEY": "bench",
             "ORDER_NOTIFY_MESSAGEBIRD_BASE_URL": f"http://127.0.0.1:{port}",
             "ORDER_NOTIFY_MESSAGEBIRD_SIGNING_KEY": "bench", "ORDER_NOTIFY_PUBLIC_URL": "https://bench.example", "ORDER_NOTIFY_SEND_CONCURRENCY": str(concurrency)}
    database = Database("sqlite-full", workdir)
    try:
        time.sleep(0.3)
        api = Server(database, workdir, extra=extra, binary=binary)
        log(f"[dispatch] queueing {options.texts} texts")
        seed(api.base, options.texts, notify=True)
        api.stop()
        started = time.perf_counter()
        server = Server(database, workdir, args=("serve",), extra=extra, binary=binary)
        while http("GET", f"http://127.0.0.1:{port}/stats")["requests"] < options.texts:
            if time.perf_counter() - started > 600:
                raise RuntimeError("the queue did not drain in 10 minutes")
            time.sleep(0.05)
        stats = http("GET", f"http://127.0.0.1:{port}/stats")
        drain_seconds = (stats["last_at"] - stats["first_at"]) / 1000
        bound = concurrency / 0.05
        sustained = stats["requests"] / drain_seconds
        log(f"[dispatch] steady: {options.steady_rate}/s for {options.seconds} s")
        before = time.time()
        seed(server.base, options.steady_rate * options.seconds // 10, notify=True)  # warm-up
        latencies = steady_latency(server.base, database.path, options)
        server.stop()
        return {"build": label, "texts": stats["requests"], "duplicates": stats["duplicates"], "concurrency": concurrency,
                "latency_ms": 50, "sms_per_second": sustained, "bound": bound,
                "ratio": sustained / min(bound, 5000), "enqueue_to_accepted_p50_ms": latencies[0],
                "enqueue_to_accepted_p99_ms": latencies[1], "steady_rate": options.steady_rate,
                "since": before}
    finally:
        stub.terminate()
        database.drop()


def steady_latency(base, path, options):
    """Queues texts at a fixed rate (oha, open loop) while the worker sends, and reads
    each text's created_at → sent_at from the database."""
    # Only the texts queued from here on (compared as instants: the stored text is
    # RFC 3339 with a `T`, which a string comparison with another spelling gets wrong).
    since = time.time()
    body = json.dumps({"customer_name": "Steady", "phone": "+31612345678",
                       "items": [{"name": "Soup", "quantity": 1}], "notify": True})
    subprocess.run(["oha", "--no-tui", "--output-format", "json", "-z", f"{options.seconds}s", "-q",
                    str(options.steady_rate), "-c", "64", "-m", "POST", "-T", "application/json", "-d", body,
                    "-H", f"Authorization: Bearer {ADMIN}", f"{base}/orders"],
                   capture_output=True, text=True, check=True)
    time.sleep(2)
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT created_at, sent_at FROM notifications WHERE sent_at IS NOT NULL").fetchall()
    waits = sorted((parse_time(sent) - parse_time(created)) * 1000
                   for created, sent in rows if parse_time(created) >= since)
    if not waits:
        return (None, None)
    return (waits[len(waits) // 2], waits[min(len(waits) - 1, int(len(waits) * 0.99))])


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------- report

def table(results, dispatched):
    lines = ["| database | build | scenario | req/s (wrk c=64) | p50 / p99 ms (c=64) | p50 / p99 ms at a fixed rate (oha) | errors | raw limit /s: sqlx · direct (1 per commit / 32) | ratio to the best limit |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for result in results:
        for scenario, row in result["scenarios"].items():
            peak, fixed = row["wrk_c64"], row["oha"]
            fixed_text = f"{fixed['p50_ms']:.2f} / {fixed['p99_ms']:.2f} at {fixed['rate']}/s" if fixed else "—"
            errors = peak["errors"] + (fixed["errors"] if fixed else 0)
            limits = f"{row['raw_per_second']:,.0f}"
            if "raw_rusqlite" in row:
                limits += f" · {row['raw_rusqlite']:,.0f}"
                if "raw_rusqlite_batched" in row:
                    limits += f" / {row['raw_rusqlite_batched']:,.0f}"
            lines.append(f"| {result['kind']} | {result['build']} | {scenario} | {peak['rps']:,.0f} | {peak['p50_ms']:.2f} / {peak['p99_ms']:.2f} | "
                         f"{fixed_text} | {errors} | {limits} | {row['ratio']:.2f} |")
    lines.append("")
    for result in results:
        change = result["scenarios"].get("status-change")
        extra = ""
        if change and "wrk_c16" in change:
            p16, p256 = change["wrk_c16"]["p99_ms"], change["wrk_c256"]["p99_ms"]
            extra = f"; status change p99 closed loop (wrk) c=16 {p16:.2f} ms, c=256 {p256:.2f} ms ({p256 / p16:.1f}×)"
        if change and "open_c16" in change:
            o16, o256 = change["open_c16"], change["open_c256"]
            extra += (f"; at a fixed {o16['rate']:,.0f}/s (half the peak, open loop) p50 / p99 on 16 connections "
                      f"{o16['p50_ms']:.2f} / {o16['p99_ms']:.2f} ms, on 256 {o256['p50_ms']:.2f} / {o256['p99_ms']:.2f} ms "
                      f"({o256['p99_ms'] / max(o16['p99_ms'], 0.001):.1f}×), errors {o16['errors'] + o256['errors']}")
        lines.append(f"- {result['kind']}, {result['build']}: start-up to ready {result['startup_ms']:.0f} ms (median of 5), "
                     f"RSS idle {result['idle_rss_mib']:.1f} MiB, peak {result['peak_rss_mib']:.1f} MiB{extra}")
    for d in dispatched:
        p50 = "—" if d["enqueue_to_accepted_p50_ms"] is None else f"{d['enqueue_to_accepted_p50_ms']:.0f}"
        p99 = "—" if d["enqueue_to_accepted_p99_ms"] is None else f"{d['enqueue_to_accepted_p99_ms']:.0f}"
        lines.append(f"- dispatch, {d['build']} (sqlite-full, stub provider 50 ms, concurrency {d['concurrency']}): {d['texts']} texts at "
                     f"{d['sms_per_second']:,.0f} SMS/s (bound {d['bound']:,.0f}/s, ratio {d['ratio']:.2f}), duplicates "
                     f"{d['duplicates']}; steady {d['steady_rate']}/s: enqueue → accepted p50 {p50} ms, p99 {p99} ms")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--databases", default="sqlite-full,sqlite-normal,postgres")
    parser.add_argument("--scenarios", default="list,get,status-change,notify")
    parser.add_argument("--seconds", type=int, default=10, help="per load run")
    parser.add_argument("--raw-seconds", type=float, default=5)
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--send-concurrency", type=int, default=250)
    parser.add_argument("--steady-rate", type=int, default=1000)
    parser.add_argument("--no-dispatch", action="store_true")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--label", default="this build", help="what to call this build's rows")
    parser.add_argument("--before", help="another server binary, measured the same way in the same run, row by row before this build")
    parser.add_argument("--before-label", default="before")
    options = parser.parse_args()
    options.scenarios = options.scenarios.split(",")
    # Checked before anything runs, not when the run reaches them minutes later
    # (bench/run installs both): dispatch's steady phase needs oha.
    missing = [tool for tool in ["wrk"] + ([] if options.no_dispatch else ["oha"]) if not shutil.which(tool)]
    if missing:
        parser.error(f"not installed: {', '.join(missing)} (bench/run installs them)")
    helpers = [RAW_LIMIT, OPEN_LOOP] + ([] if options.no_dispatch else [STUB])
    unbuilt = [os.path.basename(h) for h in helpers if not os.path.exists(h)]
    if unbuilt:
        parser.error(f"not built in {TARGET}: {', '.join(unbuilt)} (bench/run builds them: "
                     "cargo build --release --example raw_limit --example stub_provider --example open_loop)")
    workdir = tempfile.mkdtemp(prefix="order-notify-bench-")
    try:
        builds = ([(options.before_label, options.before)] if options.before else []) + [(options.label, SERVER)]
        limits = {}
        results = [api_scenarios(kind, workdir, options, build, limits)
                   for kind in options.databases.split(",") if kind for build in builds]
        dispatched = [] if options.no_dispatch else [dispatch(workdir, options, build) for build in builds]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = table(results, dispatched)
    print(report)
    if options.json:
        with open(options.json, "w") as f:
            json.dump({"api": results, "dispatch": dispatched}, f, indent=2)


if __name__ == "__main__":
    main()
