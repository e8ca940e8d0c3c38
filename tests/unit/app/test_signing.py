"""x-pch-digest: the published vectors of docs/SIGNING.md, computed with OpenSSL, not with app.signing."""

from __future__ import annotations

import hmac
import re
from decimal import Decimal
from pathlib import Path

import pytest

from app import jsonio, signing

BASE = {
    "request_uid": "ord-1001",
    "location_id": "loc-001",
    "request_datetime": "2026-11-23T18:00:00.000Z",
    "order_details": {"online_order_id": "ON-1001", "grand_total": 24.71, "subtotal": 20.98},
}
SHARED_ID = "SharedId-0123456789"


def body(*, drop=(), drop_details=(), details=None, **top) -> dict:
    """The base body (parsed from JSON text, money as Decimal) with the row's differences."""
    doc = jsonio.loads(jsonio.dumps(BASE))
    doc.update(jsonio.loads(jsonio.dumps(top)) if top else {})
    for name in drop:
        doc.pop(name)
    for name in drop_details:
        doc["order_details"].pop(name)
    for name, value in (details or {}).items():
        doc["order_details"][name] = Decimal(value) if isinstance(value, str) and value[0].isdigit() else value
    return doc


# (case, body, SharedId, message, expected hex): the table of docs/SIGNING.md, row by row.
VECTORS = [
    (
        "base",
        body(),
        SHARED_ID,
        "ord-1001|loc-001|ON-1001|2471|2098|1795456800",
        "2b23c364b44b9fcc7ea9f7b458b1ca3e39606de5db1f8c6a15e5e4e5648511d8",
    ),
    (
        "missing ids",
        body(drop=("request_uid", "location_id"), drop_details=("online_order_id",)),
        SHARED_ID,
        "0|0|0|2471|2098|1795456800",
        "1fa232deacc07f13651315c799a0238922bb4ad420fb7ff721ea4c80293f7ccc",
    ),
    (
        "19.99",
        body(
            request_uid="ord-1002",
            request_datetime="2026-11-23T18:00:00.999Z",
            details={"online_order_id": "ON-1002", "grand_total": "19.99", "subtotal": "19.99"},
        ),
        SHARED_ID,
        "ord-1002|loc-001|ON-1002|1999|1999|1795456800",
        "234945ad645e6b712c7edb1eec549653bbf10a68831cd80e0fd25846f596de74",
    ),
    (
        "0.10",
        body(
            request_uid="ord-1003",
            location_id="loc-002",
            details={"online_order_id": "ON-1003", "grand_total": "0.10", "subtotal": "0.10"},
        ),
        SHARED_ID,
        "ord-1003|loc-002|ON-1003|10|10|1795456800",
        "7e7bfbbeb40d1b3336a543c1e6c7a3b8fcc133f8ae6133a7a6936401663c7389",
    ),
    (
        "truncation",
        body(
            request_uid="ord-1004",
            details={"online_order_id": "ON-1004", "grand_total": "1000.005", "subtotal": "999.999"},
        ),
        SHARED_ID,
        "ord-1004|loc-001|ON-1004|100000|99999|1795456800",
        "866bd9df3fc7a4c2026e435f1b15135aabf73bcbcfaffa613d79bed6fe3c3827",
    ),
    (
        "unparseable time",
        body(request_uid="ord-1005", request_datetime="23/11/2026 18:00", details={"online_order_id": "ON-1005"}),
        SHARED_ID,
        "ord-1005|loc-001|ON-1005|2471|2098|0",
        "b45622bfedc0152a27c9ea15093e98b86df379d2a6f6d23f2c7703416d384ae5",
    ),
    (
        "offset",
        body(
            request_uid="ord-1006",
            request_datetime="2026-11-24T02:30:15.250+05:30",
            details={"online_order_id": "ON-1006"},
        ),
        SHARED_ID,
        "ord-1006|loc-001|ON-1006|2471|2098|1795467615",
        "ce87383283954ce5e61f38fa7e96e360cc3c39fa5127e1209c3cf2b9bd2218c2",
    ),
    (
        "non-ascii",
        body(request_uid="ordé-日本-1", details={"online_order_id": "ON-ü"}),
        SHARED_ID,
        "ordé-日本-1|loc-001|ON-ü|2471|2098|1795456800",
        "1d078e06781e2c200bdb1168005f730e1fc9cc29394e01df5630d67b9d6e14bb",
    ),
    (
        "another SharedId",
        body(),
        "PAR-SHARED-ID-XYZ-42",
        "ord-1001|loc-001|ON-1001|2471|2098|1795456800",
        "95a0554327ef880266184bc932c9a636be42c277e3408d2e74fc68ef31e67757",
    ),
]
WHOLE_SHARED_ID_DIGEST = "2b53b04c3569127698d6f7675f7f570290134d067ee0da48907a0d5c6e12bc2c"


@pytest.mark.parametrize(("case", "doc", "shared_id", "message", "expected"), VECTORS, ids=[v[0] for v in VECTORS])
def test_published_vector(case, doc, shared_id, message, expected):
    key = signing.key_from_shared_id(shared_id)
    assert signing.digest_message(doc) == message
    assert signing.sign(key, doc) == expected
    assert signing.verify(key, doc, expected)


def test_at_least_eight_distinct_vectors():
    assert len({v[4] for v in VECTORS}) == len(VECTORS) >= 8


def test_the_published_table_holds_the_same_vectors():
    text = (Path(__file__).resolve().parents[3] / "docs" / "SIGNING.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| \d+ \|.*\| `([^`]+)` \| `([^`]+)` \| `([0-9a-f]{64})` \|$", text, re.MULTILINE)
    published = {(message.replace("\\|", "|"), key, digest) for message, key, digest in rows}
    tested = {(v[3], signing.key_from_shared_id(v[2]).decode(), v[4]) for v in VECTORS}
    assert published == tested


def test_key_is_the_first_ten_characters_of_the_shared_id():
    assert signing.key_from_shared_id(SHARED_ID) == b"SharedId-0"
    assert signing.key_from_shared_id("PAR-SHARED-ID-XYZ-42") == b"PAR-SHARED"
    whole = SHARED_ID.encode()
    assert signing.sign(whole, body()) == WHOLE_SHARED_ID_DIGEST
    assert not signing.verify(signing.key_from_shared_id(SHARED_ID), body(), WHOLE_SHARED_ID_DIGEST)


def test_settings_key_matches(settings):
    assert settings.digest_key == b"SharedId-0"


@pytest.mark.parametrize("shared_id", ["", "short", "123456789"])
def test_a_shared_id_shorter_than_ten_is_refused(shared_id):
    with pytest.raises(ValueError):
        signing.key_from_shared_id(shared_id)


def test_money_given_as_float_or_decimal_or_int_signs_alike():
    as_decimal = body(details={"grand_total": "19.99", "subtotal": "19.00"})
    as_float = body(details={"grand_total": 19.99, "subtotal": 19.0})
    as_int = body(details={"grand_total": "19.99", "subtotal": 19})
    messages = {signing.digest_message(d) for d in (as_decimal, as_float, as_int)}
    assert messages == {"ord-1001|loc-001|ON-1001|1999|1900|1795456800"}


@pytest.mark.parametrize("value", [None, True, "abc", Decimal("NaN"), Decimal("Infinity")])
def test_total_that_is_not_money_counts_as_zero(value):
    assert signing.digest_message(body(details={"grand_total": value})).split("|")[3] == "0"


@pytest.mark.parametrize("value", ["", {"a": 1}, ["x"], False])
def test_id_that_is_not_a_scalar_counts_as_missing(value):
    assert signing.digest_message(body(request_uid=value)).startswith("0|loc-001|")


def test_order_details_not_an_object():
    doc = dict(body(), order_details=["not", "an", "object"])
    assert signing.digest_message(doc) == "ord-1001|loc-001|0|0|0|1795456800"


KEY = signing.key_from_shared_id(SHARED_ID)
GOOD = VECTORS[0][4]


def test_verify_refuses_a_wrong_digest():
    assert not signing.verify(KEY, body(), GOOD[:-1] + ("0" if GOOD[-1] != "0" else "1"))
    assert not signing.verify(KEY, body(request_uid="ord-1002"), GOOD)
    assert not signing.verify(b"SharedId-1", body(), GOOD)


@pytest.mark.parametrize("digest", [None, "", "not-hex"])
def test_verify_refuses_a_missing_or_garbled_digest(digest):
    assert not signing.verify(KEY, body(), digest)


def test_verify_accepts_uppercase_and_surrounding_spaces():
    assert signing.verify(KEY, body(), GOOD.upper())
    assert signing.verify(KEY, body(), f"  {GOOD}\t")


def test_sign_is_lowercase_hex():
    digest = signing.sign(KEY, body())
    assert digest == digest.lower() and len(digest) == 64
    int(digest, 16)


def test_verify_compares_in_constant_time(monkeypatch):
    seen = []
    real = hmac.compare_digest

    def spy(a, b):
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert signing.verify(KEY, body(), GOOD.upper())
    assert not signing.verify(KEY, body(), "0" * 64)
    assert seen == [(GOOD.encode(), GOOD.encode()), (GOOD.encode(), b"0" * 64)]  # bytes: any header compares


def test_two_orders_sharing_a_message_do_not_verify():
    """Issue 11, finding 16."""
    from app import signing as s

    key = s.key_from_shared_id("SharedId-0123456789")
    one = {"request_uid": "a|b", "location_id": "c", "order_details": {"online_order_id": "d"}}
    two = {"request_uid": "a", "location_id": "b|c", "order_details": {"online_order_id": "d"}}
    assert s.digest_message(one) == s.digest_message(two)  # one digest for two orders
    assert not s.verify(key, one, s.sign(key, one)) and not s.verify(key, two, s.sign(key, two))
