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


def raw_request(port: int, data: bytes, timeout: float = 5.0, pause: float = 0.0, trickle: bytes = b"",
                trickle_every: float = 1.0) -> Answer:
    """Send `data` (then `trickle`, one byte every `trickle_every` s); read the answer until close."""
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    received = b""
    try:
        sock.sendall(data)
        if pause:
            time.sleep(pause)
        sock.settimeout(trickle_every if trickle else timeout)
        for byte in trickle:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            try:
                chunk = sock.recv(65536)
                if chunk:
                    received += chunk
                    break
            except TimeoutError:
                continue
            if time.monotonic() - started > timeout:
                break
        sock.settimeout(max(0.1, timeout - (time.monotonic() - started)))
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, OSError):
                break
            if not chunk:
                break
            received += chunk
            if _complete(received):
                break
    finally:
        sock.close()
    return parse(received, time.monotonic() - started)


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
