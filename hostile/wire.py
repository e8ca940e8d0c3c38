"""Raw JSON text (huge numbers, duplicate keys, lone surrogates kept as written) and raw HTTP."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from decimal import Decimal


class Num(str):
    """A JSON number written exactly as its text (`1e999999`)."""


class Obj(list):
    """A JSON object as a list of (key, value) pairs: duplicate keys stay duplicate."""


class Esc(str):
    """A JSON string written with its text as escapes already (`\\ud800`)."""


def text(value) -> str:
    if isinstance(value, Num):
        return str(value)
    if isinstance(value, Esc):
        return f'"{value}"'
    if isinstance(value, Obj):
        return "{" + ",".join(f"{text(k) if isinstance(k, Esc) else json.dumps(k)}:{text(v)}" for k, v in value) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(text(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, Decimal):  # money, as a JSON number
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(str(value))


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    error: str = ""
    extra: dict = field(default_factory=dict)


def raw_request(
    port: int, data: bytes, timeout: float = 5.0, pause: float = 0.0, trickle: bytes = b"", trickle_every: float = 1.0
) -> Answer:
    """Send `data` (then `trickle`, one byte every `trickle_every` s); read the answer until close."""
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    received, closed = b"", False
    try:
        try:
            sock.sendall(data)
        except OSError:  # the server answered and closed before taking it all (a cap): read its answer
            closed = True
        if pause:
            time.sleep(pause)
        sock.settimeout(trickle_every if trickle else timeout)
        for byte in b"" if closed else trickle:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            try:
                chunk = sock.recv(65536)
                if chunk:
                    received += chunk
                    break
                closed = True
                break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
            if time.monotonic() - started > timeout:
                break
        sock.settimeout(max(0.1, timeout - (time.monotonic() - started)))
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
            if _complete(received):
                break
    finally:
        sock.close()
    answer = parse(received, time.monotonic() - started)
    answer.extra["closed"] = closed
    return answer


def flood(port: int, head: bytes, piece: bytes, seconds: float = 4.0, total: int | None = None) -> Answer:
    """Send `head`, then `piece` again and again (at most `total` body bytes) for up to `seconds`,
    reading as we go. extra: `body_sent` (whether the whole body was sent when the answer came,
    for a body of `total` bytes) and `closed_after` (seconds from the answer to the server's
    close; None: still open when we stopped)."""
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    received, sent, answered_at, closed_at = b"", 0, None, None
    body_sent_at_answer = False
    try:
        sock.sendall(head)
        sock.settimeout(0.02)
        while time.monotonic() - started < seconds and closed_at is None:
            if total is None or sent < total:
                part = piece if total is None else piece[: total - sent]
                try:
                    sock.sendall(part)
                    sent += len(part)
                except TimeoutError:
                    pass
                except OSError:
                    closed_at = time.monotonic()
            try:
                chunk = sock.recv(65536)
                if not chunk:
                    closed_at = time.monotonic()
                received += chunk
            except TimeoutError:
                pass
            except OSError:
                closed_at = time.monotonic()
            if answered_at is None and _complete(received):
                answered_at = time.monotonic()
                body_sent_at_answer = total is not None and sent >= total
    finally:
        sock.close()
    answer = parse(received, (answered_at or time.monotonic()) - started)
    answer.extra.update(
        body_sent=body_sent_at_answer,
        sent=sent,
        closed_after=None if closed_at is None or answered_at is None else closed_at - answered_at,
    )
    return answer


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip() or 0)
    return False


def parse(data: bytes, seconds: float) -> Answer:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return Answer(0, {}, data, seconds, error="no HTTP answer")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    return Answer(status, headers, body, seconds)
