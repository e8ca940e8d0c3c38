"""The OpenAPI document: every route in it, valid OpenAPI 3, served with an offline docs page,
and real answers of the app conforming to it."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from flask import Flask
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from app import jsonio
from app.openapi import DOC_ASSETS, SKIPPED_METHODS, build, example_order, openapi_path
from app.times import parse_time

ORDER_POSTS = ("/posnext/order/validate", "/posnext/orders/validate", "/posnext/order/submit", "/posnext/orders/submit")


@pytest.fixture
def doc(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return json.loads(response.data)


def answer_conforms(doc: dict, path: str, method: str, response) -> None:
    """The response's status is documented for the operation and its JSON body fits the schema."""
    operation = doc["paths"][path][method]
    documented = operation["responses"][str(response.status_code)]
    schema = documented["content"]["application/json"]["schema"]
    resolver_doc = {**schema, "components": doc["components"]}
    OAS30Validator(resolver_doc).validate(json.loads(response.data))
    for name, header in documented.get("headers", {}).items():
        header = doc["components"]["headers"]["XPchDigest"] if "$ref" in header else header
        if header.get("required"):
            assert name in response.headers, f"{method} {path} {response.status_code}: no {name}"


def test_every_rule_of_the_url_map_is_in_the_document(app, doc):
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]
    assert len(rules) >= 13
    for rule in rules:
        for method in rule.methods - SKIPPED_METHODS:
            assert (openapi_path(rule.rule), method.lower()) in documented, (rule.rule, method)
    expected = {
        "/posnext/order/validate",
        "/posnext/orders/validate",
        "/posnext/order/submit",
        "/posnext/orders/submit",
        "/posnext/orders/{request_uid}",
        "/posnext/orders",
        "/posnext/menus",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
    }
    assert expected <= set(doc["paths"])
    assert set(doc["paths"]["/posnext/menus"]) == {"get", "post"}


def test_the_document_is_valid_openapi_3(doc):
    assert doc["openapi"].startswith("3.0")
    validate(doc)


def test_a_route_nobody_described_is_refused():
    app = Flask("undocumented")
    app.add_url_rule("/nowhere", "nowhere", lambda: "")
    with pytest.raises(LookupError, match="/nowhere"):
        build(app)


def test_order_posts_need_the_jwt_and_the_digest_and_read_the_marshmallow_schemas(doc):
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    digest = doc["components"]["parameters"]["XPchDigest"]
    assert digest["in"] == "header" and digest["name"] == "x-pch-digest" and digest["required"] is True
    for path in ORDER_POSTS:
        operation = doc["paths"][path]["post"]
        assert operation["security"] == [{"bearerAuth": []}]
        assert {"$ref": "#/components/parameters/XPchDigest"} in operation["parameters"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        request_type = doc["components"]["schemas"][body.rsplit("/", 1)[1]]["properties"]["request_type"]
        assert request_type["enum"] == (["validate-order"] if "validate" in path else ["place-order"])
        assert {"200", "400", "401", "413", "415", "500", "503"} <= set(operation["responses"])
        for status, response in operation["responses"].items():
            assert response["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/OrderResponse"
            }, (path, status)
    submit = doc["paths"]["/posnext/order/submit"]["post"]["responses"]
    assert {"202", "409"} <= set(submit) and submit["202"]["headers"]["Location"]["required"]
    request = doc["components"]["schemas"]["SubmitRequest"]
    assert set(request["required"]) == {
        "request_uid",
        "request_type",
        "request_datetime",
        "location_id",
        "order_details",
    }
    details = doc["components"]["schemas"]["OrderDetails"]
    assert details["properties"]["grand_total"]["type"] == "number"
    assert details["additionalProperties"] is True  # unknown order_details fields are kept
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert doc["paths"][path]["get"]["security"] == []
    assert doc["paths"]["/posnext/orders"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OrderList"
    }
    assert doc["paths"]["/posnext/menus"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Menu"
    }


def test_the_documented_examples_are_what_the_app_accepts(doc, post):
    """As /docs shows them, unchanged: each page load brings a fresh request_datetime and
    request_uid, so a POST tried from the page is accepted the first time (issue 20, finding 6)."""
    example = doc["paths"]["/posnext/order/validate"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert {k: v for k, v in example.items() if k not in ("request_uid", "request_datetime")} == {
        k: v
        for k, v in json.loads(json.dumps(example_order("validate-order"))).items()
        if k not in ("request_uid", "request_datetime")
    }
    response = post("/posnext/order/validate", jsonio.loads(json.dumps(example)))
    assert response.status_code == 200 and response.body["status"] == "validated", response.body
    answer_conforms(doc, "/posnext/order/validate", "post", response)
    submit_example = doc["paths"]["/posnext/order/submit"]["post"]["requestBody"]["content"]["application/json"][
        "example"
    ]
    response = post("/posnext/order/submit", jsonio.loads(json.dumps(submit_example)))
    assert response.status_code == 200 and response.body["status"] == "placed", response.body
    answer_conforms(doc, "/posnext/order/submit", "post", response)


def test_each_page_load_gets_its_own_example_uid_and_time(client):
    first, second = (
        json.loads(client.get("/openapi.json").data)["paths"]["/posnext/order/submit"]["post"]["requestBody"][
            "content"
        ]["application/json"]["example"]
        for _ in range(2)
    )
    assert first["request_uid"] != second["request_uid"]
    assert abs(parse_time(first["request_datetime"]).timestamp() - time.time()) < 60


def test_error_answers_conform_to_the_document(doc, client, post, token):
    auth = {"Authorization": f"Bearer {token}"}
    unsigned = client.post(
        "/posnext/order/submit",
        data=jsonio.dumps(example_order("place-order")),
        headers={**auth, "Content-Type": "application/json"},
    )
    assert unsigned.status_code == 401
    answer_conforms(doc, "/posnext/order/submit", "post", unsigned)
    wrong_type = post("/posnext/orders/submit", jsonio.loads(json.dumps(example_order("validate-order"))))
    assert wrong_type.status_code == 400
    answer_conforms(doc, "/posnext/orders/submit", "post", wrong_type)
    not_json = client.post("/posnext/order/validate", data=b"x", headers={**auth, "Content-Type": "text/plain"})
    assert not_json.status_code == 415
    answer_conforms(doc, "/posnext/order/validate", "post", not_json)
    missing = client.get("/posnext/orders/never-seen", headers=auth)
    assert missing.status_code == 404
    answer_conforms(doc, "/posnext/orders/{request_uid}", "get", missing)
    menu = client.get("/posnext/menus?location_id=loc-001", headers=auth)
    assert menu.status_code == 200
    answer_conforms(doc, "/posnext/menus", "get", menu)
    listed = client.get("/posnext/orders?location_id=loc-001", headers=auth)
    assert listed.status_code == 200
    answer_conforms(doc, "/posnext/orders", "get", listed)
    assert client.get("/healthz").status_code == 200
    answer_conforms(doc, "/healthz", "get", client.get("/healthz"))


@pytest.mark.parametrize("address", ["/docs", "/docs/"])  # issue 13: /docs/ was a 404
def test_docs_page_works_offline_from_our_own_assets(client, doc, address):
    page = client.get(address)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "the page must not load anything from elsewhere"
    referenced = re.findall(r"(?:src|href)=\"([^\"]+)\"", html)
    assets = [ref for ref in referenced if ref.startswith("/docs/assets/")]  # right from /docs and /docs/
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= set(assets)
    for ref in assets:
        served = client.get(ref)
        assert served.status_code == 200 and len(served.data) > 100, ref
    assert "/openapi.json" in referenced
    assert 'url: "/openapi.json"' in html
    for path, operations in doc["paths"].items():  # the no-JavaScript list names every operation
        for method in operations:
            assert f"<td>{method.upper()}</td><td>{path}</td>" in html
    assert set(DOC_ASSETS) >= {a.rsplit("/", 1)[1] for a in assets}


def test_docs_asset_outside_the_list_is_a_json_404(client):
    for name in ("index.html", "../../app/settings.py", "swagger-initializer.js"):
        response = client.get(f"/docs/assets/{name}")
        assert response.status_code == 404 and response.mimetype == "application/json"
        assert jsonio.loads(response.data)["status"] == "errored"


def test_the_path_parameter_is_named_request_uid_as_in_the_readme(doc):
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    assert "/posnext/orders/{request_uid}" in doc["paths"]
    names = [p["name"] for p in doc["paths"]["/posnext/orders/{request_uid}"]["get"]["parameters"] if p["in"] == "path"]
    assert names == ["request_uid"] and "/posnext/orders/{request_uid}" in readme


def test_docs_say_how_to_try_a_post(doc):
    text = json.dumps(doc)
    assert "posbridge sign" in text and "posbridge token" in text
