"""gunicorn's own error answers are JSON in the order envelope and never echo the client's bytes."""

from __future__ import annotations

import json
import socket

from gunicorn import util

from app import server_errors


def test_gunicorns_error_answers_are_json(monkeypatch):
    """Issue 11, finding 8."""
    monkeypatch.setattr(util, "write_error", util.write_error)  # restored after the test
    server_errors.install()
    left, right = socket.socketpair()
    try:
        util.write_error(left, 431, "Request Header Fields Too Large", "Error parsing headers: '\x1b[2J<script>'")
        left.close()
        data = b""
        while chunk := right.recv(65536):
            data += chunk
    finally:
        right.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 ") and b"Content-Type: application/json" in head
    parsed = json.loads(body)
    assert parsed["status"] == "errored" and parsed["errors"][0]["code"] == "header_fields_too_large"
    assert b"script" not in body and b"\x1b" not in body
    assert int(dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])[b"Content-Length"]) == len(body)
