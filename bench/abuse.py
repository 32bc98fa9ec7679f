#!/usr/bin/env python3
"""Tries, against a release build with its default settings, what a stranger or a
leaked key would do to run up the SMS bill or hold the server, and prints each attempt
with the server's answers as a Markdown table.

    cargo build --release && python3 bench/abuse.py [path/to/order-notify]

The server runs on a fresh SQLite file with the sandbox provider (texts are kept, not
sent), an admin key made up here, and an integration key and a staff key it creates.
Nothing is tuned: the rate limits and sending limits are the defaults.
"""

import collections
import concurrent.futures
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time

import requests

BINARY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "release", "order-notify")
ADMIN = "abuse-admin-" + secrets.token_hex(16)
ROWS = []


def row(tried, answer):
    ROWS.append((tried, answer))
    print(f"- {tried}: {answer}", file=sys.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tally(responses):
    counts = collections.Counter(getattr(r, "status_code", r) for r in responses)
    return ", ".join(f"{n} × {code}" for code, n in sorted(counts.items()))


def main():
    work = tempfile.mkdtemp()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, ORDER_NOTIFY_BIND=f"127.0.0.1:{port}",
               ORDER_NOTIFY_DATABASE_URL=f"sqlite://{work}/abuse.db?mode=rwc",
               ORDER_NOTIFY_ADMIN_KEY=ADMIN, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    server = subprocess.Popen([BINARY, "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=open(f"{work}/server.log", "w"))
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/readyz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        run(base, server.pid)
    finally:
        server.terminate()
        server.wait()
    print("| tried | answer |\n| --- | --- |")
    for tried, answer in ROWS:
        print(f"| {tried} | {answer} |")


def run(base, pid):
    admin = {"Authorization": f"Bearer {ADMIN}"}

    def key(role):
        r = requests.post(f"{base}/keys", json={"name": f"abuse {role}", "role": role}, headers=admin)
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['key']}"}

    shop, staff = key("integration"), key("staff")
    session = requests.Session()

    def order(headers, phone="+31 6 1234 5678", notify=True, name="Ada"):
        return session.post(f"{base}/orders", headers=headers, json={
            "customer_name": name, "phone": phone, "notify": notify,
            "items": [{"name": "Margherita", "quantity": 1}]})

    def texts(order_id):
        got, cursor = [], None
        while True:
            url = f"{base}/orders/{order_id}/notifications?limit=200" + (f"&cursor={cursor}" if cursor else "")
            page = requests.get(url, headers=admin).json()
            got += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return got

    # 1. One integration key, texts to 300 distinct numbers as fast as it can.
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        # Only the status is kept: a kept response would keep its connection open.
        answers = list(pool.map(lambda i: requests.post(f"{base}/orders", headers=shop, json={
            "customer_name": "Bulk", "phone": f"+31 6 2{i:07d}", "notify": True,
            "items": [{"name": "Pie", "quantity": 1}]}).status_code, range(300)))
    row(f"300 orders with `notify: true` to distinct numbers, one integration key, in {time.time() - started:.1f} s",
        f"{tally(answers)} (the key's request rate limit: 100/s, burst 200; each created order's text counts toward 5,000 a day)")

    time.sleep(2.5)  # the key's bucket refills
    # 2. Texts in one's own words from an integration key.
    own = order(admin).json()["id"]
    words = {"body": "Claim your refund at http://evil.example/x"}
    answers = [session.post(f"{base}/orders/{own}/notifications", headers=shop, json=words) for _ in range(50)]
    row("50 custom bodies (\"Claim your refund at http://evil.example/x\") with an integration key",
        f"{tally(answers)}; texts queued for the order: {len(texts(own))} (its creation text)")

    # 3. Toggling one order between confirmed and delayed.
    toggled = order(staff, phone="+31 6 3000 0001", notify=False).json()["id"]
    statuses, etag = [], None
    for i in range(40):
        r = session.patch(f"{base}/orders/{toggled}/status", headers=staff,
                          json={"status": "confirmed" if i % 2 == 0 else "delayed"})
        statuses.append(r)
    states = collections.Counter(t["state"] for t in texts(toggled))
    row("40 status changes of one order, confirmed ↔ delayed (each texts the customer)",
        f"status changes: {tally(statuses)}; texts: {dict(states)} (10 a number per rolling hour)")

    # 4. Numbers that cost money or are not anyone's phone.
    costly = ["+979 123 456 789", "+881 6 1234 5678", "+870 773 111 111", "+44 909 879 0000", "+1 900 555 0100"]
    answers = [order(staff, phone=p) for p in costly]
    row("orders for " + ", ".join(costly), tally(answers) + " on `phone`")

    # 5. A custom body that renders to tens of thousands of characters.
    long_words = {"body": "{items}" * 142}
    r = session.post(f"{base}/orders/{own}/notifications", headers=staff, json=long_words)
    row("custom body `{items}` × 142 (a 1 KB body rendering to ~1,400 SMS) with a staff key",
        f"{r.status_code} on `{r.json().get('errors', [{}])[0].get('field')}`")
    time.sleep(1)
    # 6. 50 "Notify customer" on one order, then read its texts.
    notified = order(staff, phone="+31 6 3000 0002", notify=False).json()["id"]
    answers = [session.post(f"{base}/orders/{notified}/notifications", headers=staff, json={}) for _ in range(50)]
    page = requests.get(f"{base}/orders/{notified}/notifications", headers=admin)
    row("50 × \"Notify customer\" on one order, then `GET /orders/{id}/notifications`",
        f"{tally(answers)}; the list answers {len(page.content):,} bytes, {len(page.json()['items'])} texts, paged (at most 200 a page)")

    # 7. Provider callbacks with the default sandbox provider.
    phone = "+31 6 3000 0003"
    order(staff, phone=phone, notify=False)
    forged = [
        session.post(f"{base}/webhooks/messagebird/inbound", data={"originator": "31630000003", "body": "STOP"}),
        session.post(f"{base}/webhooks/messagebird/inbound", data={"originator": "31630000003", "body": "START"}),
        session.get(f"{base}/webhooks/messagebird", params={"reference": texts(own)[0]["id"], "status": "delivery_failed"}),
        session.post(f"{base}/webhooks/twilio/inbound", data={"From": "+31630000003", "Body": "STOP"}, headers={"X-Twilio-Signature": "x"}),
    ]
    opted_out = requests.get(f"{base}/opt-outs", headers=admin).json()["items"]
    row("unsigned STOP, START and `delivery_failed` to MessageBird's routes, a STOP to Twilio's, sandbox sending",
        f"{tally(forged)}; opt-outs: {len(opted_out)}; the text stays {texts(own)[0]['state']}")
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: requests.post(f"{base}/webhooks/messagebird/inbound",
                                                        data={"originator": "31630000003", "body": "STOP"}).status_code, range(1500)))
    row(f"1,500 forged STOPs in {time.time() - started:.1f} s", f"{tally(answers)} (callbacks are limited per address: 100/s, burst 200)")
    time.sleep(2.5)

    # 8. Made-up HTTP methods and /metrics.
    before = len(requests.get(f"{base}/metrics").content)
    method = "X" + "Y" * 4095
    answers, sizes = [], []
    for i in range(500):
        with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1]))) as s:
            s.sendall(f"{method[:4000]}{i} /orders HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answers.append(s.recv(64).split(b" ")[1:2])
        if i % 150 == 149:
            time.sleep(2)  # stay under the per-address rate limit
        if i in (49, 249, 499):
            sizes.append(len(requests.get(f"{base}/metrics").content))
    codes = collections.Counter(a[0].decode() if a else "closed" for a in answers)
    row("500 requests with made-up 4 KB methods, each different",
        f"{dict(codes)}; `/metrics` {before:,} bytes before, then {', '.join(f'{n:,}' for n in sizes)} after 50, 250 and 500 (one series for method `other` is added once)")

    # 9. Bodies sent a byte every 2 s, 300 connections from one address.
    fds = lambda: len(os.listdir(f"/proc/{pid}/fd"))
    fds_before = fds()
    head = (f"POST /orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n"
            "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n").encode()
    slow = []
    for _ in range(300):
        s = socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])))
        s.sendall(head)
        s.setblocking(False)
        slow.append(s)
    time.sleep(1)
    peak = fds()
    started = time.time()
    answers, open_ = collections.Counter(), set(range(len(slow)))
    while open_ and time.time() - started < 40:
        for i in list(open_):
            try:
                slow[i].send(b" ")
            except OSError:
                answers["shut"] += 1
                open_.discard(i)
                continue
            try:
                data = slow[i].recv(64)
                answers[data.split(b" ")[1].decode() if data else "shut"] += 1
                open_.discard(i)
            except BlockingIOError:
                pass
            except OSError:
                answers["shut"] += 1
                open_.discard(i)
        time.sleep(2)
    took = time.time() - started
    for s in slow:
        s.close()
    row("300 connections from one address, each sending its body a byte every 2 s",
        f"{dict(answers)} within {took:.0f} s (256 per address, the rest shut at accept; 429 where the key's own rate limit was spent; a body must arrive within 15 s); server file descriptors {fds_before} → {peak} at the peak → {fds()} after")

    # 10. Guessing keys, then the health checks.
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: requests.get(f"{base}/orders", headers={"Authorization": f"Bearer onk_guess{i}"}).status_code, range(400)))
    health = [requests.get(f"{base}{p}") for p in ("/healthz", "/readyz", "/metrics")]
    right = requests.get(f"{base}/orders", headers=staff)
    row("400 requests with made-up keys, then `/healthz`, `/readyz`, `/metrics` and a valid key from the same address",
        f"{tally(answers)}; health: {tally(health)}; then the valid key: {right.status_code} (the address's bucket had refilled by then)")

    # 11. A forged X-Forwarded-For to get a fresh bucket.
    time.sleep(2.5)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: requests.get(f"{base}/openapi.json", headers={"X-Forwarded-For": f"203.0.113.{i % 250}"}).status_code, range(400)))
    row("400 requests without a key at once, each claiming another client in `X-Forwarded-For` (no trusted proxy)",
        f"{tally(answers)}: one address's bucket (burst 200), not 250 fresh ones")

    time.sleep(2.5)  # the admin key's bucket, emptied by the slow bodies, refills
    audit = requests.get(f"{base}/audit", headers=admin).json()["items"]
    row("the audit trail after all this", ", ".join(f"{e['action']} by {e['actor']}" for e in reversed(audit)))


if __name__ == "__main__":
    main()
