"""The adversarial corpus: one or more requests for each finding of issue 11, then the front
door's (issue 23: hostile/door.py)."""

from __future__ import annotations

import json
from functools import partial

from bin.sample import sample_order
from hostile import door
from hostile.cases import Case, digest_for
from hostile.wire import Answer, raw_request, text

SUBMIT, VALIDATE = "/posnext/order/submit", "/posnext/order/validate"


def _json(answer: Answer) -> dict:
    try:
        return json.loads(answer.body)
    except ValueError:
        return {}


def _status_is(*codes):
    return lambda a: None if a.status in codes else f"expected HTTP {codes}, got {a.status}"


def order_case(name, key, token, body, path=SUBMIT, sign=True, expect=None, raw_text=None) -> Case:
    data = (raw_text if raw_text is not None else text(body)).encode("utf-8", "surrogatepass")
    digest, right = digest_for(key, data) if sign else ("", False)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    if digest:
        headers["x-pch-digest"] = digest
    uid = body.get("request_uid") if isinstance(body, dict) else None
    return Case(
        name,
        "POST",
        path,
        data,
        headers,
        verified=sign and right,
        uid=uid if isinstance(uid, str) else None,
        expect=expect,
    )


def corpus(key: bytes, token: str, port: int, body_timeout: float, proxied: bool = False) -> list[Case]:
    """`proxied`: the port is nginx's (deploy/nginx/posbridge.conf), which holds a slow sender
    itself and cuts it off after 10 s between reads, without an answer."""
    auth = {"Authorization": f"Bearer {token}"}
    cases: list[Case] = []
    # 1. the signing oracle: an unverified body, a 404, a 1970 request
    cases.append(
        order_case(
            "1a oracle: no digest",
            key,
            token,
            {"request_uid": "U", "location_id": "loc-001"},
            path=VALIDATE,
            sign=False,
            expect=_status_is(400, 401),
        )
    )
    cases.append(
        Case(
            "1b oracle: 404 signs nothing", "GET", "/posnext/orders/never-seen-U", headers=auth, expect=_status_is(404)
        )
    )
    old = sample_order(request_type="validate-order", request_datetime="1970-01-01T00:00:00.000Z")
    cases.append(
        order_case(
            "1c oracle: 1970 validate",
            key,
            token,
            old,
            path=VALIDATE,
            expect=lambda a: None if _json(a).get("status") != "validated" else "a 1970 request_datetime was validated",
        )
    )
    # 1d. oracle v2 (issue 23, finding 3): items and tip are outside the digest; a captured signed
    # validate resent with 30 burgers and a 500.00 tip must not come back with new totals signed
    captured = sample_order(request_type="validate-order", quantity=1)
    tampered = json.loads(text(captured))
    tampered["order_details"]["items"][0]["quantity"] = 30
    tampered["order_details"]["tip"] = 500.00
    sent = (tampered["order_details"]["subtotal"], tampered["order_details"]["grand_total"])

    def _own_money(answer: Answer) -> str | None:
        details = _json(answer).get("order_details") or {}
        if (
            "x-pch-digest" in {k.lower() for k in answer.headers}
            and (details.get("subtotal"), details.get("grand_total")) != sent
        ):
            return f"signed totals the request did not carry: {details.get('subtotal')}, {details.get('grand_total')}"
        return None

    cases.append(
        order_case(
            "1d oracle v2: items changed under a captured digest",
            key,
            token,
            tampered,
            path=VALIDATE,
            expect=_own_money,
        )
    )
    # 2, 3. numbers: a CPU bomb and an infinity
    for name, number in (
        ("2 cpu bomb 1e999999", "1e999999"),
        ("2 cpu bomb 1e300000", "1e300000"),
        ("3 inf", "1" + "0" * 310 + ".5"),
        ("3 tiny", "1e-999999"),
    ):
        body = sample_order()
        body["order_details"]["extra"] = "__NUM__"
        raw = text(body).replace('"__NUM__"', number)
        cases.append(order_case(name, key, token, body, raw_text=raw, expect=_status_is(400)))
    # 4. key collisions; 16. the digest's separator
    for uid in ("x:history", "x:lease", "a|b", "x/y", "x" * 129, "", "a b", "\x1b[2J"):
        cases.append(
            order_case(f"4 uid {uid[:12]!r}", key, token, sample_order(request_uid=uid), expect=_status_is(400))
        )
        if uid:
            cases.append(Case(f"4 GET {uid[:12]!r}", "GET", f"/posnext/orders/{uid}", headers=auth))
    # `..` and `.` are of the key set: accepted as ids, never a path (finding 15 is the POS side)
    for uid in ("..", "."):
        cases.append(
            order_case(
                f"4 uid {uid!r} is an id", key, token, sample_order(request_uid=uid), expect=_status_is(200, 202)
            )
        )
    cases.append(order_case("16 location a|b", key, token, sample_order(location_id="loc|001"), expect=_status_is(400)))
    # 6. a callback port out of range
    for port_text in ("99999", "0", "65536"):
        body = sample_order(callback_url=f"http://127.0.0.1:{port_text}/cb")
        cases.append(order_case(f"6 callback port {port_text}", key, token, body, expect=_status_is(400)))
    # 7. lone surrogates, also on /posnext/menus
    for field_name in ("request_uid", "location_id"):
        body = sample_order()
        body[field_name] = "__SUR__"
        raw = text(body).replace('"__SUR__"', '"a\\ud800"')
        cases.append(order_case(f"7 surrogate in {field_name}", key, token, body, raw_text=raw, expect=_status_is(400)))
    cases.append(
        Case(
            "7 surrogate on menus",
            "POST",
            "/posnext/menus",
            b'{"location_id": "\\udc00"}',
            {"Content-Type": "application/json", **auth},
            expect=_status_is(400),
        )
    )
    # 8. what gunicorn reads: chunks, long lines, many headers
    head = f"POST {SUBMIT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    cases.append(
        Case(
            "8 bad chunk size",
            "POST",
            SUBMIT,
            raw=lambda: raw_request(port, (head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n").encode()),
        )
    )
    big = b"8000\r\n" + b" " * 0x8000 + b"\r\n"
    cases.append(
        Case(
            "8 oversize chunked body",
            "POST",
            SUBMIT,
            raw=lambda: raw_request(
                port, (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + big * 10 + b"0\r\n\r\n"
            ),
            expect=_status_is(413),
        )
    )
    for length in (5000, 9000):
        cases.append(
            Case(
                f"8 URL of {length}",
                "GET",
                "/posnext/orders/" + "a" * length,
                raw=partial(
                    raw_request, port, f"GET /posnext/orders/{'a' * length} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                ),
                expect=_status_is(414),
            )
        )
    for count in (150, 300):
        extra = "".join(f"X-H{i}: v\r\n" for i in range(count))
        cases.append(
            Case(
                f"8 {count} headers",
                "GET",
                "/healthz",
                raw=partial(raw_request, port, f"GET /healthz HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()),
                expect=_status_is(431, 400),
            )
        )
    # 9. a client-supplied pos_order_id
    body = sample_order(location_id="loc-003", tax_rate="0.0700")
    body["order_details"].update(pos_order_id="INJECTED", status="placed", completed_at="2026-01-01T00:00:00.000Z")
    cases.append(
        order_case(
            "9 pos_order_id injected",
            key,
            token,
            body,
            expect=lambda a: "a client's pos_order_id was echoed" if b"INJECTED" in a.body else None,
        )
    )
    # 10. the recovery list, bounded in bytes
    cases.append(
        Case(
            "10 list limit=500",
            "GET",
            "/posnext/orders?location_id=loc-001&limit=500",
            headers=auth,
            expect=lambda a: None if len(a.body) <= 1_100_000 else f"a page of {len(a.body)} bytes",
        )
    )
    cases.append(
        Case(
            "10 list bad cursor",
            "GET",
            "/posnext/orders?location_id=loc-001&cursor=c1.zzzz",
            headers=auth,
            expect=_status_is(400),
        )
    )
    # 11. thousands of bad items
    body = sample_order()
    body["order_details"]["items"] = [{"id": "", "item_type": "Nope", "quantity": 0}] * 6500
    cases.append(
        order_case(
            "11 6500 bad items",
            key,
            token,
            body,
            expect=lambda a: (
                None
                if len(_json(a).get("errors", [])) <= 51 and len(a.body) < 20000
                else f"{len(_json(a).get('errors', []))} errors, {len(a.body)} bytes"
            ),
        )
    )
    # 12. a slowly sent body: closed after the body read timeout
    slow_head = (head + "Content-Length: 2000\r\n\r\n").encode()
    if proxied:
        cases.append(
            Case(
                "12 slow body",
                "POST",
                SUBMIT,
                slow_seconds=body_timeout + 5,
                closed_ok=True,
                raw=lambda: raw_request(port, slow_head + b"{", timeout=body_timeout + 6, pause=body_timeout + 2),
                expect=lambda a: (
                    None
                    if a.status in (0, 408) and a.extra.get("closed")
                    else f"a stalled body was not cut off (HTTP {a.status})"
                ),
            )
        )
    else:
        cases.append(
            Case(
                "12 slow body",
                "POST",
                SUBMIT,
                slow_seconds=body_timeout + 3,
                raw=lambda: raw_request(
                    port, slow_head, timeout=body_timeout + 6, trickle=b"{" * 60, trickle_every=0.5
                ),
                expect=_status_is(408),
            )
        )
    # 15. a location of `..`
    for location in ("..", "."):
        cases.append(
            Case(
                f"15 menus {location}",
                "GET",
                f"/posnext/menus?location_id={location}",
                headers=auth,
                expect=_status_is(404, 400, 429),
            )
        )  # 429: this client's unknown ids spent (issue 23)
    # deep nesting, duplicate keys, NaN
    for name, raw in (
        ("deep nesting", "[" * 5000 + "]" * 5000),
        ("NaN", '{"a": NaN}'),
        ("duplicate keys", '{"request_uid": "a", "request_uid": "b:c"}'),
    ):
        cases.append(
            Case(
                f"json {name}",
                "POST",
                SUBMIT,
                raw.encode(),
                {"Content-Type": "application/json", **auth},
                expect=_status_is(400),
            )
        )
    return cases + door.cases(key, token, port)
