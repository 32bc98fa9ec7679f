#!/usr/bin/env python3
"""Instructions per request: the release server under valgrind's callgrind, one request
at a time, on a seeded SQLite file (`synchronous=FULL`), counting every instruction the
server's threads run for each scenario. Unlike requests per second, the count does not
move with whatever else the machine is doing, so a change of a few per cent is seen in
one run; it says nothing of waiting (fsync, locks), which only the load runs measure.

    python3 bench/instructions.py [--before OTHER_BINARY] [--requests N] [--keep DIR] [BINARY]

Each request is sent alone, so every write is a batch of one. Needs valgrind (on every
machine kind here; `apt-get install valgrind` elsewhere)."""

import argparse
import glob
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

SCENARIOS = ["get", "list", "status-change", "notify"]
WARM_UP = 40


class Client:
    """One kept-alive connection, as a load generator's: what is counted is the
    request's work, not a TCP handshake per request."""

    def __init__(self, port):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def send(self, method, path, body=None):
        headers = {"Authorization": f"Bearer {bench.ADMIN}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status}")


def request(client, scenario, ids, step, statuses):
    order = ids[step % len(ids)]
    if scenario == "get":
        client.send("GET", f"/orders/{order}")
    elif scenario == "list":
        client.send("GET", "/orders?limit=50")
    elif scenario == "notify":
        client.send("POST", f"/orders/{order}/notifications", {})
    else:
        target = "delayed" if statuses.get(order) == "confirmed" else "confirmed"
        statuses[order] = target
        client.send("PATCH", f"/orders/{order}/status", {"status": target})


def totals(path):
    with open(path) as dump:
        for line in dump:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def measure(label, binary, requests, workdir, env, keep=None):
    database = bench.Database("sqlite-full", workdir)
    # Seeded at full speed; only the scenarios run under valgrind.
    plain = bench.Server(database, workdir, binary=binary, extra=env)
    try:
        ids = bench.seed(plain.base, count=2000)
    finally:
        plain.stop()
    random.Random(7).shuffle(ids)
    out = os.path.join(workdir, f"callgrind.{label.replace('/', '_')}")
    args = ["-q", "--tool=callgrind", f"--callgrind-out-file={out}.%p",
            binary, "serve", "--no-worker"]
    server = bench.Server(database, workdir, args=args, binary="valgrind", extra=env)
    counts = {}
    try:
        pid = server.process.pid
        client = Client(server.port)
        statuses = {}
        for scenario in SCENARIOS:
            for step in range(WARM_UP):
                request(client, scenario, ids, step, statuses)
            subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
            for step in range(WARM_UP, WARM_UP + requests):
                request(client, scenario, ids, step, statuses)
            before = set(glob.glob(f"{out}.{pid}*"))
            subprocess.run(["callgrind_control", "-d", scenario, str(pid)], check=True, capture_output=True)
            for _ in range(600):
                dumps = set(glob.glob(f"{out}.{pid}*")) - before
                if dumps:
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError(f"callgrind wrote no dump for {scenario} within 60 s")
            time.sleep(0.5)  # the dump is written before the file is closed
            dump = dumps.pop()
            counts[scenario] = totals(dump) / requests
            if keep:
                os.makedirs(keep, exist_ok=True)
                kept = os.path.join(keep, f"{label.replace('/', '_').replace(' ', '_')}.{scenario}.callgrind")
                shutil.copyfile(dump, kept)
                bench.log(f"kept {kept} (callgrind_annotate --inclusive=yes {kept})")
            bench.log(f"{label}: {scenario} {counts[scenario]:,.0f} instructions per request")
    finally:
        server.stop()
        database.drop()
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary", nargs="?", default=bench.SERVER)
    parser.add_argument("--label", default="this build")
    parser.add_argument("--before")
    parser.add_argument("--before-label", default="before")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="set for this build's server only (to weigh a setting against --before)")
    parser.add_argument("--json")
    parser.add_argument("--keep", metavar="DIR",
                        help="keep each scenario's callgrind dump in DIR, to see where the instructions go")
    options = parser.parse_args()
    env = dict(kv.split("=", 1) for kv in options.env)
    builds = ([(options.before_label, options.before, {})] if options.before else []) + \
        [(options.label, options.binary, env)]
    labels = [label for label, _, _ in builds]
    if len(set(labels)) != len(labels):
        parser.error("--label and --before-label must differ")
    results = {}
    with tempfile.TemporaryDirectory(prefix="order-notify-instructions-") as workdir:
        for label, binary, build_env in builds:
            results[label] = measure(label, binary, options.requests, workdir, build_env,
                                     options.keep)
    print(f"| scenario | {' | '.join(labels)} |{' change |' if len(labels) == 2 else ''}")
    print(f"| --- |{' ---: |' * len(labels)}{' ---: |' if len(labels) == 2 else ''}")
    for scenario in SCENARIOS:
        row = [f"{results[label][scenario]:,.0f}" for label in labels]
        change = ""
        if len(labels) == 2:
            a, b = (results[label][scenario] for label in labels)
            change = f" {100 * (b - a) / a:+.1f} % |"
        print(f"| {scenario} | {' | '.join(row)} |{change}")
    if options.json:
        with open(options.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
