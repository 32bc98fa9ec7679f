#!/usr/bin/env python3
"""Failover at dinner peak, measured: a burst of status changes while the first provider
(Bird) is down, then the same once it is back, against a build with its default retry
and breaker settings. Prints a Markdown table: texts, where each went, attempts per
provider, how long the texts took from the change to "sent", and the breaker.

    cargo build --release && python3 bench/failover.py [path/to/order-notify]

Both providers are stand-ins here that answer after 50 ms: Bird with 503 while "down",
Twilio always with 201. The server runs on a fresh SQLite file with
ORDER_NOTIFY_SMS_PROVIDER=bird,twilio; the request rate limit is off (this measures
sending, not the limits), everything else is the default (first retry after 2 s,
breaker after 5 failures in a row, 30 s cooldown).
"""

import concurrent.futures
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

BINARY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "release", "order-notify")
ADMIN = "failover-admin-" + secrets.token_hex(16)
BURST = int(os.environ.get("FAILOVER_TEXTS", "200"))
STATE = {"bird_down": True}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Provider(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        time.sleep(0.05)
        if self.path.startswith("/v1/sms/messages"):
            if STATE["bird_down"]:
                status, body = 503, {"error": {"type": "service_unavailable_error", "message": "down"}}
            else:
                status, body = 200, {"id": "sms_" + secrets.token_hex(13)}
        else:
            status, body = 201, {"sid": "SM" + secrets.token_hex(16), "status": "queued"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def serve_stub():
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}"


def parse(at):
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def burst(base, headers, first):
    """Creates and confirms BURST orders (16 at once); their text ids."""
    def one(n):
        phone = f"+316{20000000 + first + n}"
        order = requests.post(f"{base}/orders", headers=headers, json={
            "customer_name": f"Peak {first + n}", "phone": phone,
            "items": [{"name": "Margherita", "quantity": 1}]}).json()
        answer = requests.patch(f"{base}/orders/{order['id']}/status", headers=headers,
                                json={"status": "confirmed"}).json()
        return answer["notification"]["id"]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(BURST)))


def settled(base, headers, ids):
    """Waits until every text is sent or failed; each with its attempts."""
    deadline = time.time() + 300
    while True:
        texts = [requests.get(f"{base}/notifications/{i}", headers=headers).json() for i in ids]
        if all(t["state"] in ("sent", "failed") for t in texts):
            return texts
        if time.time() > deadline:
            raise SystemExit("texts did not settle in 5 minutes")
        time.sleep(0.5)


def describe(texts):
    took = sorted((parse(t["sent_at"]) - parse(t["created_at"])).total_seconds()
                  for t in texts if t["sent_at"])
    by_provider = {}
    for t in texts:
        key = f"{t['state']} via {t['provider']}"
        by_provider[key] = by_provider.get(key, 0) + 1
    paths = {}
    for t in texts:
        path = " → ".join(f"{a['provider']} {a['outcome']}" for a in t["attempts_log"])
        paths[path] = paths.get(path, 0) + 1
    q = statistics.quantiles(took, n=20) if len(took) > 1 else took * 19
    return {
        "texts": ", ".join(f"{n} {k}" for k, n in sorted(by_provider.items())),
        "paths": "; ".join(f"{n} × {p}" for p, n in sorted(paths.items(), key=lambda x: -x[1])),
        "took": f"median {statistics.median(took):.2f} s, p95 {q[18]:.2f} s, max {took[-1]:.2f} s",
    }


def metrics(base):
    text = requests.get(f"{base}/metrics").text
    attempts = re.findall(r'order_notify_provider_attempts_total\{provider="(\w+)",outcome="(\w+)"\} (\d+)', text)
    breaker = re.findall(r'order_notify_provider_breaker\{provider="(\w+)",state="(\w+)"\} 1', text)
    return (", ".join(f"{p} {o}: {n}" for p, o, n in attempts),
            ", ".join(f"{p} {s}" for p, s in breaker))


def main():
    stub = serve_stub()
    work = tempfile.mkdtemp()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, ORDER_NOTIFY_BIND=f"127.0.0.1:{port}",
               ORDER_NOTIFY_DATABASE_URL=f"sqlite://{work}/failover.db?mode=rwc",
               ORDER_NOTIFY_ADMIN_KEY=ADMIN, ORDER_NOTIFY_RATE_LIMIT="0",
               ORDER_NOTIFY_SMS_PROVIDER="bird,twilio",
               ORDER_NOTIFY_BIRD_API_KEY="bk_eu1_bench", ORDER_NOTIFY_BIRD_BASE_URL=stub,
               ORDER_NOTIFY_TWILIO_ACCOUNT_SID="AC" + "0" * 32,
               ORDER_NOTIFY_TWILIO_AUTH_TOKEN="bench", ORDER_NOTIFY_TWILIO_BASE_URL=stub,
               ORDER_NOTIFY_PUBLIC_URL=base, RUST_LOG=os.environ.get("RUST_LOG", "error"))
    server = subprocess.Popen([BINARY, "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=open(f"{work}/server.log", "w"))
    headers = {"Authorization": f"Bearer {ADMIN}"}
    rows = []
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/readyz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        started = time.time()
        down = describe(settled(base, headers, burst(base, headers, 0)))
        seconds = time.time() - started
        attempts, breaker = metrics(base)
        rows.append((f"{BURST} status changes, Bird down", down, attempts, breaker, seconds))
        STATE["bird_down"] = False
        wait = max(0.0, 31 - (time.time() - started))
        time.sleep(wait)
        started = time.time()
        back = describe(settled(base, headers, burst(base, headers, BURST)))
        seconds = time.time() - started
        attempts, breaker = metrics(base)
        rows.append((f"{BURST} more, Bird back after the cooldown", back, attempts, breaker, seconds))
    finally:
        server.terminate()
        server.wait()
    print("| phase | texts | attempts, per text | change → sent | attempts so far (/metrics) | breakers after | all settled in |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for phase, d, attempts, breaker, seconds in rows:
        print(f"| {phase} | {d['texts']} | {d['paths']} | {d['took']} | {attempts} | {breaker} | {seconds:.1f} s |")


if __name__ == "__main__":
    main()
