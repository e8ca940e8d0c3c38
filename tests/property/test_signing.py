"""x-pch-digest: sign and verify agree on any body; no body and no header ever makes them raise;
changing a signed field breaks the digest."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from app import signing
from tests.property.strategies import DIGESTS, JSON, OBJECTS, SCALARS, through_json

SHARED_IDS = st.text(min_size=10, max_size=40)
IDS = st.text(min_size=1, max_size=30)


@st.composite
def orders(draw) -> dict:
    """A body with the digest's fields set (any of them maybe missing) and anything else beside."""
    body = draw(st.dictionaries(st.text(max_size=8), SCALARS, max_size=3))
    for name, value in (("request_uid", IDS), ("location_id", IDS), ("request_datetime", st.text(max_size=30))):
        if draw(st.booleans()):
            body[name] = draw(value)
    details = draw(st.dictionaries(st.sampled_from(["online_order_id", "grand_total", "subtotal", "note"]), SCALARS))
    body["order_details"] = details
    return through_json(body)


@given(SHARED_IDS, orders() | OBJECTS.map(through_json))
def test_a_signed_body_verifies(shared_id, body):
    assume(signing.digest_message(body).count("|") == 5)  # a `|` inside an id never verifies (issue 11, #16)
    key = signing.key_from_shared_id(shared_id)
    assert signing.verify(key, body, signing.sign(key, body))
    assert signing.verify(key, body, signing.sign(key, body).upper())  # hex compares case-blind


@given(SHARED_IDS, orders() | OBJECTS, DIGESTS)
def test_verify_never_raises_and_only_the_right_digest_passes(shared_id, body, digest):
    key = signing.key_from_shared_id(shared_id)
    result = signing.verify(key, body, digest)
    assert result == (digest is not None and digest.strip().lower() == signing.sign(key, body))


@given(SHARED_IDS, orders(), IDS)
def test_another_request_uid_breaks_the_digest(shared_id, body, other):
    assume(other not in (body.get("request_uid"), "0"))  # a missing RequestUid signs as "0" (PAR's recipe)
    key = signing.key_from_shared_id(shared_id)
    digest = signing.sign(key, body)
    assert not signing.verify(key, dict(body, request_uid=other), digest)


@given(SHARED_IDS, st.text(max_size=10), orders())
def test_only_the_first_ten_characters_of_the_shared_id_are_the_key(shared_id, tail, body):
    key = signing.key_from_shared_id(shared_id)
    assert signing.sign(key, body) == signing.sign(signing.key_from_shared_id(shared_id[:10] + tail), body)


@given(JSON)
def test_the_message_of_any_body_has_six_fields(details):
    message = signing.digest_message({"order_details": details, "request_uid": "u|v"})
    assert message.count("|") == 6  # the uid's own "|" plus the five separators
