#!/usr/bin/env python3
"""Webhooks out at dinner peak, measured: an order system's endpoint hears of a burst of
orders (created, confirmed, text sent), first while it answers, then while it is down
for a while. Every message is verified (Standard Webhooks, with Python's own hmac) and
counted once by its webhook-id. Prints a Markdown table.

    cargo build --release && python3 bench/webhooks.py [path/to/order-notify]

The server runs on a fresh SQLite file with the sandbox provider, the request rate
limit off and private networks allowed (the receiver is on 127.0.0.1); everything else
is the default (first retry after 2 s, then three times longer each time). The receiver
answers 204 after 10 ms, or 503 while "down".
"""

import base64
import concurrent.futures
import hashlib
import hmac
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
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

BINARY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "release", "order-notify")
ADMIN = "webhooks-admin-" + secrets.token_hex(16)
BURST = int(os.environ.get("WEBHOOK_ORDERS", "200"))
DOWN_FOR = float(os.environ.get("WEBHOOK_DOWN_SECONDS", "10"))
STATE = {"down": False, "secret": None}
RECEIVED = {}  # webhook-id → (received at, body)
CALLS = {"total": 0, "bad_signature": 0, "refused_while_down": 0}
LOCK = threading.Lock()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def verified(headers, body):
    key = base64.b64decode(STATE["secret"].removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return expected in headers.get("webhook-signature", "").split(" ")


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        now = time.time()
        time.sleep(0.01)
        with LOCK:
            CALLS["total"] += 1
            if STATE["down"]:
                CALLS["refused_while_down"] += 1
                status = 503
            elif not verified(self.headers, body):
                CALLS["bad_signature"] += 1
                status = 400
            else:
                RECEIVED.setdefault(self.headers["webhook-id"], (now, json.loads(body)))
                status = 204
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def parse(at):
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


def burst(base, headers, first):
    """Creates and confirms BURST orders, 16 at once."""
    def one(n):
        order = requests.post(f"{base}/orders", headers=headers, json={
            "customer_name": f"Hook {first + n}", "phone": f"+316{30000000 + first + n}",
            "items": [{"name": "Margherita", "quantity": 1}]}).json()
        requests.patch(f"{base}/orders/{order['id']}/status", headers=headers,
                       json={"status": "confirmed"}).raise_for_status()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(BURST)))


def wait_for(count, seconds=600):
    deadline = time.time() + seconds
    while True:
        with LOCK:
            if len(RECEIVED) >= count:
                return
        if time.time() > deadline:
            raise SystemExit(f"only {len(RECEIVED)} of {count} messages arrived")
        time.sleep(0.05)


def describe(since_count):
    with LOCK:
        messages = list(RECEIVED.values())[since_count:]
    took = sorted(at - parse(body["timestamp"]) for at, body in messages)
    kinds = {}
    for _, body in messages:
        kinds[body["type"]] = kinds.get(body["type"], 0) + 1
    q = statistics.quantiles(took, n=20) if len(took) > 1 else took * 19
    return (", ".join(f"{n} {k}" for k, n in sorted(kinds.items())),
            f"median {statistics.median(took):.2f} s, p95 {q[18]:.2f} s, max {took[-1]:.2f} s")


def attempts(base):
    text = requests.get(f"{base}/metrics").text
    found = re.findall(r'order_notify_webhook_attempts_total\{outcome="(\w+)"\} (\d+)', text)
    return ", ".join(f"{o}: {n}" for o, n in found)


def main():
    receiver_port = free_port()
    hooks = ThreadingHTTPServer(("127.0.0.1", receiver_port), Receiver)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    work = tempfile.mkdtemp()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, ORDER_NOTIFY_BIND=f"127.0.0.1:{port}",
               ORDER_NOTIFY_DATABASE_URL=f"sqlite://{work}/webhooks.db?mode=rwc",
               ORDER_NOTIFY_ADMIN_KEY=ADMIN, ORDER_NOTIFY_RATE_LIMIT="0",
               ORDER_NOTIFY_TEXTS_PER_RECIPIENT_PER_HOUR="0",
               ORDER_NOTIFY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS="true",
               RUST_LOG=os.environ.get("RUST_LOG", "error"))
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
        created = requests.post(f"{base}/webhook-endpoints", headers=headers, json={
            "url": f"http://127.0.0.1:{receiver_port}/hooks",
            "events": ["order.created", "order.status_changed", "notification.sent"]})
        created.raise_for_status()
        STATE["secret"] = created.json()["secret"]
        time.sleep(2.1)  # past the subscriptions' 2 s cache, as a second process would be

        expected = 3 * BURST
        started = time.time()
        burst(base, headers, 0)
        wait_for(expected)
        kinds, took = describe(0)
        rows.append((f"{BURST} orders created and confirmed, endpoint up", kinds, took,
                     attempts(base), time.time() - started))

        STATE["down"] = True
        threading.Timer(DOWN_FOR, lambda: STATE.update(down=False)).start()
        started = time.time()
        burst(base, headers, BURST)
        wait_for(2 * expected)
        kinds, took = describe(expected)
        rows.append((f"{BURST} more, endpoint answering 503 for the first {DOWN_FOR:.0f} s", kinds, took,
                     attempts(base), time.time() - started))
    finally:
        server.terminate()
        server.wait()
        hooks.shutdown()
    print("| phase | messages received (each verified, counted once) | event → received | attempts so far (/metrics) | all received in |")
    print("| --- | --- | --- | --- | --- |")
    for phase, kinds, took, tries, seconds in rows:
        print(f"| {phase} | {kinds} | {took} | {tries} | {seconds:.1f} s |")
    print(f"\nReceiver: {CALLS['total']} calls, {CALLS['refused_while_down']} answered 503 while down, "
          f"{CALLS['bad_signature']} with a bad signature, "
          f"{CALLS['total'] - CALLS['refused_while_down'] - CALLS['bad_signature'] - len(RECEIVED)} repeats of a webhook-id already received.")


if __name__ == "__main__":
    main()
