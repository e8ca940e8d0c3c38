"""Regression the property tests found (docs/RELIABILITY.md): an x-pch-digest header with a
non-ASCII character made hmac.compare_digest raise TypeError, answered 500; it is a 401."""

from __future__ import annotations

import pytest

from app import signing

KEY = signing.key_from_shared_id("SharedId-0123456789")
BODY = {"request_uid": "ord-1", "location_id": "loc-001", "order_details": {}}


@pytest.mark.parametrize("digest", ["\u00e9", "caf\u00e9" * 16, "\u2603", "\udcff"])
def test_a_non_ascii_digest_does_not_verify(digest):
    assert signing.verify(KEY, BODY, digest) is False


def test_a_non_ascii_digest_header_is_a_401_not_a_500(post, order, services):
    body = order()
    response = post("/posnext/order/submit", body, headers={"x-pch-digest": "caf\u00e9"})
    assert response.status_code == 401
    assert response.body["errors"][0]["code"] == "signature_invalid"
    assert services.store.get(body["request_uid"]) is None
