"""Schemathesis hooks and formats for scripts/schemathesis.

Idempotency-Key: generated keys repeat ("0", "00" ...), and the server rightly answers
422 when a key comes back with a different request (the IETF Idempotency-Key draft);
real clients use a fresh key per request. A well-formed generated key is therefore made
unique; malformed ones are sent as generated, so their rejection is still tested.
"""

import re
import uuid

import schemathesis
from hypothesis import strategies as st

WELL_FORMED = re.compile(r"^[!-~]{1,255}$")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and isinstance(headers[name], str):
            if WELL_FORMED.match(headers[name]):
                headers[name] = f"st-{uuid.uuid4()}"


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
