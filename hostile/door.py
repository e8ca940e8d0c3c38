"""The front door's cases (issue 23): bodies nobody asked for, header floods, slow senders, the
children bomb, raw surrogates and other encodings. Each holds behind nginx and against gunicorn
bare; where the two answer differently, both answers are right and named."""

from __future__ import annotations

import json
from functools import partial

from bin.sample import sample_order
from hostile.cases import Case
from hostile.wire import Answer, flood, raw_request, text

VALIDATE = "/posnext/order/validate"
CHUNKS = b"1\r\n \r\n" * 4096  # 28 KB of chunk framing for 4 KB of body


def _problem(answer: Answer, statuses: tuple[int, ...]) -> str | None:
    if answer.status not in statuses:
        return f"expected HTTP {statuses}, got {answer.status}"
    if not answer.extra.get("body_sent") and answer.extra.get("closed_after") is None:
        return f"kept the connection after answering without the whole body ({answer.extra.get('sent')} bytes sent)"
    if answer.extra.get("closed_after") is not None and answer.extra["closed_after"] > 3.0:
        return f"read the rest of the body for {answer.extra['closed_after']:.1f} s after answering"
    return None


def _json_error(answer: Answer) -> str | None:
    try:
        return None if json.loads(answer.body)["status"] == "errored" else "not the error envelope"
    except (ValueError, KeyError, TypeError):
        return "not JSON"


def cases(key: bytes, token: str, port: int) -> list[Case]:
    auth = f"Authorization: Bearer {token}\r\n"
    out: list[Case] = []
    # 1. a body nobody asked for: answered without it, then never read (closed), or read whole by nginx
    floods = (
        (
            "401 chunked",
            f"POST {VALIDATE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n",
            None,
            (401, 413),
        ),
        (
            "413 by length",
            f"POST {VALIDATE} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
            "Content-Length: 100000000\r\n\r\n",
            100_000_000,
            (413,),
        ),
        (
            "415",
            f"POST {VALIDATE} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: text/plain\r\nContent-Length: 200000\r\n\r\n",
            200_000,
            (415,),
        ),
        ("404 chunked", "POST /nowhere HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", None, (404, 413)),
        ("405", "PUT /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n", 200_000, (405, 404)),
    )
    for name, head, total, statuses in floods:
        piece = CHUNKS if total is None else b" " * 16384
        out.append(
            Case(
                f"door flood after {name}",
                "POST",
                VALIDATE,
                slow_seconds=6.0,
                raw=partial(flood, port, head.encode(), piece, seconds=5.0, total=total),
                expect=partial(_problem, statuses=statuses),
            )
        )
    # 2. header floods: 3 MB of headers, and 34 KB of them; a request line of 9 KB
    for name, count, size in (("190 x 16000", 190, 16000), ("34 x 1000", 34, 1000)):
        extra = "".join(f"X-Flood-{i}: {'a' * size}\r\n" for i in range(count))
        out.append(
            Case(
                f"door header flood {name}",
                "GET",
                "/healthz",
                raw=partial(raw_request, port, f"GET /healthz HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()),
                expect=lambda a: None if a.status == 431 else f"expected HTTP 431, got {a.status}",
            )
        )
    # 3. slow senders: headers a byte at a time, and a body (cut off, with or without a 408)
    out.append(
        Case(
            "door slow headers",
            "GET",
            "/healthz",
            slow_seconds=16.0,
            closed_ok=True,
            raw=lambda: raw_request(
                port,
                b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
                timeout=20,
                trickle=b"X-Slow: " + b"a" * 40,
                trickle_every=0.5,
            ),
            expect=lambda a: (
                None
                if a.status in (0, 408) and a.extra.get("closed")
                else f"a slow header sender was not cut off (HTTP {a.status})"
            ),
        )
    )
    # 4. the children bomb: 200 lines x 50 children of {} with a wrong digest (474 ms before issue 23)
    body = sample_order()
    body["order_details"]["items"] = [{"id": "i", "item_type": "Item", "quantity": 1, "children": [{}] * 50}] * 200
    out.append(
        Case(
            "door children bomb",
            "POST",
            VALIDATE,
            text(body).encode(),
            {"Content-Type": "application/json", "Authorization": f"Bearer {token}", "x-pch-digest": "f" * 64},
            slow_seconds=0.5,
            expect=lambda a: (
                None if a.status == 400 and len(a.body) < 20000 else f"HTTP {a.status}, {len(a.body)} bytes"
            ),
        )
    )
    # 5. raw surrogates and other encodings: UTF-8 JSON or a 400, never a 500
    raw_surrogate = text(sample_order()).replace('"Ana"', '"Ana\ud800"').encode("utf-8", "surrogatepass")
    utf8 = text(sample_order()).encode()
    for name, data in (
        ("raw surrogate", raw_surrogate),
        ("UTF-16", utf8.decode().encode("utf-16")),
        ("UTF-16-LE", utf8.decode().encode("utf-16-le")),
        ("UTF-32", utf8.decode().encode("utf-32")),
        ("UTF-8 BOM", b"\xef\xbb\xbf" + utf8),
        ("Latin-1", text(sample_order()).replace('"Ana"', '"An\u00e1"').encode("utf-8").replace(b"\xc3\xa1", b"\xe1")),
    ):
        out.append(
            Case(
                f"door encoding {name}",
                "POST",
                VALIDATE,
                data,
                {"Content-Type": "application/json", "Authorization": f"Bearer {token}", "x-pch-digest": "0" * 64},
                expect=lambda a: None if a.status == 400 else f"expected HTTP 400, got {a.status}",
            )
        )
    # 6. only PAR's paths and the probes answer as the service; the errors are JSON either way
    for path in ("/posnext/../metrics", "/%2e%2e/healthz"):
        out.append(
            Case(
                f"door path {path}",
                "GET",
                path,
                raw=partial(raw_request, port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()),
                expect=_json_error,
            )
        )
    return out
