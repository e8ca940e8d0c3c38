"""Generated hostile requests (hypothesis): a valid order with one part replaced by something odd
(huge and tiny numbers, deep nesting, lone surrogates, duplicate keys, odd ids, times and URLs),
signed right or wrong; odd polling ids, list queries and menu bodies."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from bin.sample import sample_order
from hostile.cases import Case, digest_for
from hostile.wire import Esc, Num, Obj, text

PATHS = ("/posnext/order/validate", "/posnext/orders/validate", "/posnext/order/submit", "/posnext/orders/submit")
numbers = st.one_of(
    st.integers(-(10**6), 10**6).map(lambda n: Num(str(n))),
    st.sampled_from(
        [
            "1e999999",
            "-1e999999",
            "1e-999999",
            "1e308",
            "1e309",
            "4.9e-324",
            "0e99999999",
            "1E400",
            "-0",
            "0.000000000000000000000000000000000000000001",
            "9" * 5000,
            "1" + "0" * 310 + ".5",
            "24.710",
            "24.7100000000000000001",
            "1e40",
            "1e41",
        ]
    ).map(Num),
    st.decimals(allow_nan=False, allow_infinity=False, places=2).map(lambda d: Num(str(d))),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: Num(repr(f))),
)
odd_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "\ud800",
            "a\udfff",
            "\x00",
            "\x1b[2J",
            "\r\nX: y",
            "..",
            ".",
            "a:history",
            "a:lease",
            "a|b",
            "a/b",
            "%2e%2e",
            "x" * 129,
            "",
            " ",
            "é",
            "\u202e",
            "😀",
        ]
    ),
    st.sampled_from(["\\ud800", "\\udc00x", "\\ud83d\\ude00"]).map(Esc),
)
ids = st.one_of(st.from_regex(r"\A[A-Za-z0-9._~-]{1,128}\Z"), odd_text)
times = st.one_of(
    st.sampled_from(
        [
            "1970-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
            "2026-13-01T00:00:00Z",
            "0001-01-01T00:00:00+00:00",
            "2026-12-01T00:00:00",
            "now",
            "",
        ]
    ),
    odd_text,
)
urls = st.one_of(
    st.sampled_from(
        [
            "http://127.0.0.1:99999/cb",
            "http://127.0.0.1:0/",
            "http://[::1]:65536/",
            "http://user:pw@h/",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "http://" + "a" * 3000 + ".example/",
            "http://169.254.169.254/latest",
            "http://[fe80::1%25eth0]/",
            "https://example.com:443/cb",
        ]
    ),
    st.builds(lambda p: f"http://127.0.0.1:{p}/cb", st.integers(-5, 70000)),
)
leaf = st.one_of(st.none(), st.booleans(), numbers, odd_text)


def _nest(depth: int) -> Num | list[object] | Obj:
    value: Num | list[object] | Obj = Num("1")
    for index in range(depth):
        value = [value] if index % 2 else Obj([("a", value)])
    return value


values = st.one_of(
    leaf,
    st.integers(1, 200).map(_nest),
    st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.lists(st.tuples(st.sampled_from(["a", "a", "id", "status"]), inner), max_size=4).map(Obj),
        ),
        max_leaves=12,
    ),
)
SPOTS = (
    "request_uid",
    "location_id",
    "request_type",
    "request_datetime",
    "order_details",
    "callback_url",
    "ttl",
    "schedule_type",
    "details.subtotal",
    "details.grand_total",
    "details.tax",
    "details.tip",
    "details.items",
    "details.online_order_id",
    "details.pos_order_id",
    "details.extra",
    "item.quantity",
    "item.unit_price",
    "item.id",
    "item.children",
    "item.item_type",
    "payment.amount",
    "duplicate.request_uid",
)


@st.composite
def order_cases(draw, key: bytes, token: str) -> Case:
    body = sample_order(request_type="place-order")
    path = draw(st.sampled_from(PATHS))
    if "validate" in path:
        body["request_type"] = "validate-order"
    spot = draw(st.sampled_from(SPOTS))
    value = draw(st.one_of(values, ids, times, urls))
    details, item = body["order_details"], body["order_details"]["items"][0]
    name, _, field = spot.partition(".")
    sent: dict[str, Any] | Obj = body
    if name == "details":
        details[field] = value
    elif name == "item":
        item[field] = value
    elif name == "payment":
        details["payments"][0][field] = value
    elif name == "duplicate":
        sent = Obj([*body.items(), (field, value)])
    else:
        body[name] = value
    data = text(sent).encode("utf-8", "surrogatepass")
    headers = {
        "Content-Type": draw(st.sampled_from(["application/json"] * 6 + ["text/plain", "application/json;x=1"])),
        "Authorization": f"Bearer {token}",
    }
    sign = draw(st.sampled_from(["right", "right", "right", "wrong", "none"]))
    digest, right = digest_for(key, data)
    if sign == "right":
        headers["x-pch-digest"] = digest
    elif sign == "wrong":
        headers["x-pch-digest"] = "f" * 64
    uid = dict(body).get("request_uid") if not isinstance(body, Obj) else None
    return Case(
        f"generated {path} {spot}",
        "POST",
        path,
        data,
        headers,
        verified=sign == "right" and right,
        uid=uid if isinstance(uid, str) else None,
    )


@st.composite
def other_cases(draw, token: str) -> Case:
    auth = {"Authorization": f"Bearer {token}"}
    kind = draw(st.sampled_from(["poll", "list", "menus-get", "menus-post"]))
    value = draw(ids)
    safe = quote(str(value).encode("utf-8", "surrogatepass"), safe="")
    if kind == "poll":
        return Case("generated poll", "GET", f"/posnext/orders/{safe}", headers=auth)
    if kind == "list":
        extra = draw(
            st.sampled_from(
                [
                    "",
                    "&limit=0",
                    "&limit=1",
                    "&limit=501",
                    "&since=1970-01-01T00:00:00Z",
                    "&status=lost",
                    "&cursor=c1.",
                    "&cursor=c1.WyIxLjAiLCJ4Il0",
                    "&since=c1.abc",
                ]
            )
        )
        return Case("generated list", "GET", f"/posnext/orders?location_id={safe}{extra}", headers=auth)
    if kind == "menus-get":
        return Case("generated menus GET", "GET", f"/posnext/menus?location_id={safe}", headers=auth)
    body = text(Obj([("location_id", draw(st.one_of(values, ids)))])).encode("utf-8", "surrogatepass")
    return Case("generated menus POST", "POST", "/posnext/menus", body, {"Content-Type": "application/json", **auth})


def cases(key: bytes, token: str):
    return st.one_of(order_cases(key, token), order_cases(key, token), other_cases(token))
