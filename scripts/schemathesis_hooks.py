"""Schemathesis hooks and formats for scripts/schemathesis.

Idempotency-Key: generated keys repeat ("0", "00" ...), and the server rightly answers
422 when a key comes back with a different request (the IETF Idempotency-Key draft);
real clients use a fresh key per request. A well-formed generated key is therefore made
unique; malformed ones are sent as generated, so their rejection is still tested.

Provider callbacks: a call that carries the provider's signature header gets the
signature the provider would compute for it, so the generated calls are tested past the
signature check: X-Twilio-Signature with ORDER_NOTIFY_ST_TWILIO_TOKEN (the server's auth
token), MessageBird-Signature-JWT with ORDER_NOTIFY_ST_MESSAGEBIRD_KEY (its signing key),
each over ORDER_NOTIFY_ST_BASE (the server's public URL), and Bird's Standard Webhooks
signature with ORDER_NOTIFY_ST_BIRD_SECRET over the exact bytes sent (a fresh
`webhook-id` and the time now). A call without the header, or with fields that are not
all strings, is sent as generated and must be refused. One call in four is forged
instead (signed with the wrong secret, or for another URL, or for Bird ten minutes ago)
and marked `X-St-Forged`; the check `forged_callbacks_are_refused` then demands 401.

Links from nullable fields: an id (`format: uuid`) that a stateful link took from a
`null` field is sent as a fresh UUID, as Schemathesis does itself for a link whose
only value is `null` (see `without_null_path_parameters`).

Inbound texts: random text is almost never STOP or START, so the text of generated
inbound calls is drawn from the keywords half the time; that way the stateful phase
also creates opt-outs for DELETE /opt-outs/{phone} to remove.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import requests

import schemathesis
from hypothesis import strategies as st

WELL_FORMED = re.compile(r"^[!-~]{1,255}$")


KEYWORDS = ["STOP", "stop", " Stop ", "UNSUBSCRIBE", "START", "start", "Thanks!"]


def twilio_signature(token, url, fields, digest=hashlib.sha1):
    data = url + "".join(name + value for name, value in sorted(fields.items()))
    mac = hmac.new(token.encode(), data.encode(), digest).digest()
    return base64.b64encode(mac).decode()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def messagebird_signature(key, url, body):
    """A MessageBird-Signature-JWT (HS256) for a call to `url` with `body` (bytes)."""
    now = int(time.time())
    claims = {
        "iss": "MessageBird",
        "nbf": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
        "url_hash": hashlib.sha256(url.encode()).hexdigest(),
    }
    if body:
        claims["payload_hash"] = hashlib.sha256(body).hexdigest()
    signed = b64url(b'{"alg":"HS256","typ":"JWT"}') + "." + b64url(json.dumps(claims).encode())
    mac = hmac.new(key.encode(), signed.encode(), hashlib.sha256).digest()
    return signed + "." + b64url(mac)


def all_strings(fields):
    return fields is None or (
        isinstance(fields, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())
    )


FORGED = "X-St-Forged"


def forged(case, headers, secret, url):
    """The secret and URL to sign this call with: the right ones, or one time in four a
    forgery (a wrong secret, or another URL), marked in the call's headers. Only calls
    with the operation's own method are forged: others are 405 before any signature."""
    if case.method.upper() != case.operation.method.upper():
        return secret, url
    how = {0: "wrong-secret", 1: "wrong-url"}.get(uuid.uuid4().int % 8)
    if how:
        headers[FORGED] = how
    if how == "wrong-secret":
        return "not-" + secret, url
    if how == "wrong-url":
        return secret, "https://evil.example" + case.formatted_path
    return secret, url


def sign_messagebird(case, headers, name):
    key = os.environ.get("ORDER_NOTIFY_ST_MESSAGEBIRD_KEY")
    if not key or not all_strings(case.query):
        return
    if isinstance(case.body, str):
        body = case.body.encode()
    elif isinstance(case.body, bytes):
        body = case.body
    elif isinstance(case.body, (dict, list, int, float)):
        return
    else:  # no body
        body = b""
    # The URL exactly as it will be sent: the query encoded as the client encodes it.
    url = requests.Request(
        "GET", os.environ["ORDER_NOTIFY_ST_BASE"] + case.formatted_path, params=case.query
    ).prepare().url
    key, url = forged(case, headers, key, url)
    headers[name] = messagebird_signature(key, url, body)


def standard_signature(secret, msg_id, timestamp, body):
    """Standard Webhooks: HMAC-SHA256 with the secret's bytes over `id.timestamp.body`."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def sign_bird(case, headers, name):
    secret = os.environ.get("ORDER_NOTIFY_ST_BIRD_SECRET")
    if not secret:
        return
    body = case.body
    if isinstance(body, (dict, list, str, int, float, bool)) or body is None:
        # Sent as these bytes, so that what is signed is exactly what is sent.
        body = json.dumps(body).encode()
        case.body = body
    elif not isinstance(body, bytes):  # no body
        body = b""
    msg_id = f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time())
    if case.method.upper() == case.operation.method.upper():
        how = {0: "wrong-secret", 1: "stale"}.get(uuid.uuid4().int % 8)
        if how == "wrong-secret":
            secret = "whsec_" + base64.b64encode(b"not the secret at all").decode()
        if how == "stale":
            timestamp -= 600
        if how:
            headers[FORGED] = how
    for header in list(headers):
        if header.lower() in ("webhook-id", "webhook-timestamp"):
            del headers[header]
    headers["webhook-id"] = msg_id
    headers["webhook-timestamp"] = str(timestamp)
    headers[name] = standard_signature(secret, msg_id, timestamp, body)


def without_null_path_parameters(case):
    """An id a link took from a `null` field is sent as a fresh UUID instead.

    Schemathesis (4.32.5) skips a link's value when it is `null`, except when a
    wildcard link (`$response.body#/items/*/order_id`) matched several items: it then
    picks one of them, `null` included, and sends it as the text `None`
    (`GET /orders/None/events` after a page of webhook deliveries, where the opt-out
    and opt-in events have no order). The server rightly answers 400 to a malformed
    id, which Schemathesis then reports as a valid request refused. A fresh UUID is
    what it sends for a link whose one value is `null`: a value drawn from the
    parameter's schema (`format: uuid`). Only such ids are replaced; every id in this
    document is one, and a `null` in another path parameter is sent as drawn, to be
    judged.
    """
    parameters = case.path_parameters or {}
    for parameter in case.operation.path_parameters:
        name = parameter.name
        schema = parameter.definition.get("schema") or {}
        if name in parameters and parameters[name] is None and schema.get("format") == "uuid":
            parameters[name] = str(uuid.uuid4())


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    without_null_path_parameters(case)
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and isinstance(headers[name], str):
            if WELL_FORMED.match(headers[name]):
                headers[name] = f"st-{uuid.uuid4()}"
        if name.lower() == "messagebird-signature-jwt" and case.path.startswith(
            "/webhooks/messagebird"
        ):
            sign_messagebird(case, headers, name)
        if name.lower() == "webhook-signature" and case.path == "/webhooks/bird":
            sign_bird(case, headers, name)
        if name.lower() == "x-twilio-signature" and case.path.startswith("/webhooks/twilio/"):
            body = case.body
            if isinstance(body, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in body.items()
            ):
                url = os.environ["ORDER_NOTIFY_ST_BASE"] + case.formatted_path
                token = os.environ.get("ORDER_NOTIFY_ST_TWILIO_TOKEN")
                digest = hashlib.sha1
                # A call that names signature settings is signed the newer way: the
                # webhook shared key and HMAC-SHA256.
                for other in list(headers):
                    if other.lower() == "x-twilio-webhooks-signature-settings":
                        headers[other] = "key=webhooks_sharedkey_st,algorithm=HMAC_SHA256"
                        token = os.environ.get("ORDER_NOTIFY_ST_TWILIO_WEBHOOK_KEY")
                        digest = hashlib.sha256
                if token:
                    token, url = forged(case, headers, token, url)
                    headers[name] = twilio_signature(token, url, body, digest)


@schemathesis.check
def forged_callbacks_are_refused(ctx, response, case):
    """A callback signed with the wrong secret or for another URL is 401, whatever it says."""
    forged = (case.headers or {}).get(FORGED)
    if forged and response.status_code != 401:
        raise AssertionError(
            f"a callback forged ({forged}) was answered {response.status_code}, not 401"
        )


def keyword_or_as_drawn(ctx, path, fields, name):
    """The inbound text's field `name` replaced by a keyword, or left as drawn."""
    if ctx.operation.path != path or not isinstance(fields, dict):
        return st.just(fields)
    return st.sampled_from(KEYWORDS + [None]).map(
        lambda text: fields if text is None else {**fields, name: text}
    )


@schemathesis.hook
def flatmap_body(ctx, body):
    return keyword_or_as_drawn(ctx, "/webhooks/twilio/inbound", body, "Body")


@schemathesis.hook
def flatmap_query(ctx, query):
    return keyword_or_as_drawn(ctx, "/webhooks/messagebird/inbound", query, "body")


# Format `phone` (order phone numbers): whether a number is valid depends on its
# country's numbering plan, which no schema can state; the parser itself is fuzzed by
# backend/fuzz (target `phone`). Generated orders use real-looking numbers written the
# ways people write them.
schemathesis.openapi.format(
    "phone",
    st.sampled_from(
        [
            "+31 6 1234 5678",
            "+31612345679",
            "0031 6 12 34 56 80",
            "+44 7911 123456",
            "+49 1512 3456789",
            "+1 (202) 555-0123",
            "+33 6 12 34 56 78",
        ]
    ),
)


# Format `eta` (a promised time): an RFC 3339 date-time with its offset that lies at
# most an hour before the request and at most 7 days after it, a window relative to
# now that no schema can state. Generated times fall well inside it, written with the
# offsets of several zones.
def eta_between(seconds, offset_minutes):
    zone = timezone(timedelta(minutes=offset_minutes))
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).astimezone(zone).isoformat()


schemathesis.openapi.format(
    "eta",
    st.builds(
        eta_between,
        st.integers(min_value=-30 * 60, max_value=6 * 24 * 3600),
        st.sampled_from([0, 60, 330, -300, 780]),
    ),
)


# Format `webhook-url` (a webhook endpoint's address): it must resolve to a public
# address, which no schema can state and this offline machine cannot offer, so the
# main run's server allows private networks and generated endpoints point at the
# stand-in here (which answers 201 to every message), or at names that do not resolve.
schemathesis.openapi.format(
    "webhook-url",
    st.sampled_from(
        [
            os.environ.get("ORDER_NOTIFY_ST_HOOK_URL", "http://127.0.0.1:9/hooks"),
            os.environ.get("ORDER_NOTIFY_ST_HOOK_URL", "http://127.0.0.1:9/hooks") + "?shop=7",
            "https://hooks.invalid/order-notify",
        ]
    ),
)
