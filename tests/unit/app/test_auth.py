"""JWT and x-pch-digest on the way in, x-pch-digest on the way out."""

from __future__ import annotations

import warnings

import pytest

from app import jsonio, signing
from tests.conftest import JWT_SECRET, SHARED_ID
from tests.support.factories import rsa_pair, sample_order, token
from tests.support.helpers import build_app, send

VALIDATE = "/posnext/order/validate"
KEY = signing.key_from_shared_id(SHARED_ID)


def order():
    return sample_order(request_type="validate-order")


def status_and_code(response):
    errors = (response.body or {}).get("errors") or [{}]
    return response.status_code, errors[0].get("code") if response.status_code != 200 else None


def test_a_valid_hs256_token_passes(client):
    r = send(client, VALIDATE, order(), token=token(JWT_SECRET))
    assert (r.status_code, r.body["status"]) == (200, "validated")


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", f"Token {token(JWT_SECRET)}"])
def test_no_bearer_token_is_401(client, header):
    r = send(client, VALIDATE, order(), headers={"Authorization": header} if header else None)
    assert status_and_code(r) == (401, "unauthorized")


def quiet(make, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns that the test secret is short for HS512
        return make(*args, **kwargs)


BAD_TOKENS = {
    "garbage": lambda: "not-a-jwt",
    "other secret": lambda: token("another-secret-of-enough-length-000"),
    "other algorithm": lambda: quiet(token, JWT_SECRET, algorithm="HS512"),
    "tampered": lambda: token(JWT_SECRET) + "x",
}


@pytest.mark.parametrize("bad", list(BAD_TOKENS))
def test_a_bad_token_is_401(client, bad):
    assert status_and_code(send(client, VALIDATE, order(), token=BAD_TOKENS[bad]())) == (401, "unauthorized")


def test_an_unsigned_token_is_401(client):
    import jwt

    unsigned = jwt.encode({"sub": "x", "exp": 2_000_000_000}, None, algorithm="none")
    assert status_and_code(send(client, VALIDATE, order(), token=unsigned)) == (401, "unauthorized")


def test_a_token_without_exp_is_401(client):
    import jwt

    no_exp = jwt.encode({"sub": "par-ordering"}, JWT_SECRET, algorithm="HS256")
    assert status_and_code(send(client, VALIDATE, order(), token=no_exp)) == (401, "unauthorized")


def test_an_expired_token_is_401(client):
    r = send(client, VALIDATE, order(), token=token(JWT_SECRET, seconds=-60))
    assert status_and_code(r) == (401, "token_expired")


def test_a_token_expired_within_the_leeway_passes(client):
    assert send(client, VALIDATE, order(), token=token(JWT_SECRET, seconds=-5)).status_code == 200


def test_iss_and_aud_are_not_checked_unless_configured(client):
    r = send(client, VALIDATE, order(), token=token(JWT_SECRET, iss="anyone", aud="anything"))
    assert r.status_code == 200


@pytest.fixture
def strict():
    return build_app(PAR_JWT_ISSUER="https://par.example", PAR_JWT_AUDIENCE="posbridge").test_client()


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"iss": "https://par.example", "aud": "posbridge"}, 200),
        ({"iss": "https://par.example", "aud": ["other", "posbridge"]}, 200),
        ({"iss": "https://evil.example", "aud": "posbridge"}, 401),
        ({"iss": "https://par.example", "aud": "other"}, 401),
        ({"aud": "posbridge"}, 401),
        ({"iss": "https://par.example"}, 401),
    ],
    ids=["right", "aud list", "wrong iss", "wrong aud", "no iss", "no aud"],
)
def test_iss_and_aud_when_configured(strict, claims, expected):
    assert send(strict, VALIDATE, order(), token=token(JWT_SECRET, **claims)).status_code == expected


@pytest.fixture
def rs256():
    return build_app(PAR_JWT_SECRET=None, PAR_JWT_PUBLIC_KEY=rsa_pair()[1]).test_client()


def test_rs256_with_the_public_key(rs256):
    private, _public = rsa_pair()
    assert send(rs256, VALIDATE, order(), token=token(private, "RS256")).status_code == 200
    other = build_app().test_client()  # the HS256 app refuses the RS256 token
    assert status_and_code(send(other, VALIDATE, order(), token=token(private, "RS256"))) == (401, "unauthorized")


def test_rs256_refuses_hs256_tokens_and_other_keys(rs256):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert send(rs256, VALIDATE, order(), token=token(other, "RS256")).status_code == 401
    assert send(rs256, VALIDATE, order(), token=token(JWT_SECRET)).status_code == 401


# -- x-pch-digest in -------------------------------------------------------------------------


def test_an_uppercase_digest_is_accepted(client):
    body = order()
    r = send(client, VALIDATE, body, token=token(JWT_SECRET), digest=signing.sign(KEY, body).upper())
    assert r.status_code == 200


@pytest.mark.parametrize("digest", [False, "", "deadbeef", "0" * 64])
def test_a_missing_or_wrong_digest_is_401(client, digest):
    r = send(client, VALIDATE, order(), token=token(JWT_SECRET), digest=digest)
    assert status_and_code(r) == (401, "signature_invalid")


def test_a_digest_of_another_body_is_401(client):
    body = order()
    other = dict(body, order_details=dict(body["order_details"], grand_total=body["order_details"]["tax"]))
    r = send(client, VALIDATE, body, token=token(JWT_SECRET), digest=signing.sign(KEY, other))
    assert status_and_code(r) == (401, "signature_invalid")


def test_a_digest_keyed_with_the_whole_shared_id_is_401(client):
    body = order()
    r = send(client, VALIDATE, body, token=token(JWT_SECRET), digest=signing.sign(SHARED_ID.encode(), body))
    assert status_and_code(r) == (401, "signature_invalid")


def test_the_digest_is_checked_on_the_body_as_sent_with_unknown_fields(client):
    body = sample_order(request_type="validate-order", brand="x")
    body["order_details"]["loyalty"] = {"member": "L1"}
    assert send(client, VALIDATE, body, token=token(JWT_SECRET)).status_code == 200


# -- x-pch-digest out ------------------------------------------------------------------------


def test_every_order_answer_is_signed(client, post):
    answers = [
        post(VALIDATE, order()),
        post("/posnext/order/submit", sample_order(uid="ord-a")),
        client.get("/posnext/orders/ord-a", headers={"Authorization": f"Bearer {token(JWT_SECRET)}"}),
    ]
    for r in answers:
        assert r.status_code == 200
        body = jsonio.loads(r.data)
        assert signing.verify(KEY, body, r.headers["x-pch-digest"])
        assert r.headers["x-pch-digest"] == signing.sign(KEY, body)
