"""The schemas, and the whole submit path, on any JSON: a ValidationError or a clean load,
never another exception; over HTTP never a 5xx."""

from __future__ import annotations

import contextlib

import fakeredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from app import create_app, jsonio
from app.settings import load_settings
from schemas.menus import MenuQuerySchema
from schemas.orders import OrderListQuerySchema, OrderRequestSchema
from tests.property.strategies import JSON, OBJECTS, paths, replaced, through_json
from tests.support.factories import encode, make_token, sample_order
from tests.support.fakes import FakePos, FakeTasks

SHARED_ID = "PropShared-0123456789"
SECRET = "property-jwt-secret-0123456789abcdef"
ENV = {
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "POS_BASE_URL": "http://127.0.0.1:1",
    "POS_API_TOKEN": "t",
    "PAR_SHARED_ID": SHARED_ID,
    "PAR_JWT_SECRET": SECRET,
    "INLINE_BUDGET_MS": "200",
    "RETRY_BASE_SECONDS": "0.01",
    "RETRY_CAP_SECONDS": "0.02",
}
SAMPLE = through_json(sample_order(uid="prop-1"))
SAMPLE_PATHS = list(paths(SAMPLE))


@st.composite
def near_valid(draw) -> dict:
    """The sample order with one element anywhere in it replaced by any JSON value."""
    path = draw(st.sampled_from(SAMPLE_PATHS[1:]))
    return replaced(SAMPLE, path, draw(JSON))


def loads_or_refuses(schema, value) -> None:
    with contextlib.suppress(ValidationError):
        schema.load(value)


@given(JSON)
def test_any_json_is_loaded_or_refused_with_a_validation_error(value):
    loads_or_refuses(OrderRequestSchema(), value)


@settings(max_examples=300)
@given(near_valid())
def test_an_order_broken_anywhere_is_loaded_or_refused_with_a_validation_error(value):
    loads_or_refuses(OrderRequestSchema(), value)


@given(st.dictionaries(st.text(max_size=12), st.text(max_size=40), max_size=6))
def test_any_query_is_loaded_or_refused_with_a_validation_error(query):
    loads_or_refuses(OrderListQuerySchema(), query)
    loads_or_refuses(MenuQuerySchema(), {"location_id": query.get("location_id")})


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_are_json_or_bad_json(raw):
    with contextlib.suppress(jsonio.BadJson):
        jsonio.loads(raw)


@pytest.fixture(scope="module")
def client():
    app = create_app(load_settings(ENV), redis_client=fakeredis.FakeRedis(), pos=FakePos(), tasks=FakeTasks())
    return app.test_client()


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=near_valid() | OBJECTS, path=st.sampled_from(["/posnext/order/validate", "/posnext/order/submit"]))
def test_any_signed_body_gets_an_answer_below_500(client, body, path):
    data, headers = encode(body, SHARED_ID, make_token(SECRET))
    response = client.post(path, data=data, headers=headers)
    assert response.status_code < 500, response.data[:500]
    assert jsonio.loads(response.data)["status"] in ("validated", "placed", "pending", "errored", "rejected")
