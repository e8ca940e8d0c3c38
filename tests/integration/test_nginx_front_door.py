"""Issue 23, deliverable 1: the front door as shipped (deploy/nginx/posbridge.conf) run by Debian's
nginx (bin/ensure-nginx installs it; .ci/run calls it) in front of a live stack: only PAR's paths
and the probes reach the web, the caps answer as JSON, and the short hostile run finds nothing
through it (`python -m hostile --short --nginx`)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys

import pytest
import requests

from bin import nginx as front
from bin.stack import ROOT, free_port
from tests.support.factories import encode, sample_order
from tests.support.live import SHARED_ID

pytestmark = pytest.mark.skipif(
    front.binary() is None and not os.environ.get("CI"),
    reason="no nginx here: bin/ensure-nginx installs it (CI runs it)",
)


@pytest.fixture(scope="module")
def door(live, tmp_path_factory):
    server = front.Nginx(str(tmp_path_factory.mktemp("nginx")), free_port(), live.web_port).start()
    yield f"http://127.0.0.1:{server.listen_port}", server
    server.stop()


def test_only_pars_paths_and_the_probes_reach_the_web(live, door):
    base, _ = door
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
    data, headers = encode(sample_order(request_type="validate-order"), SHARED_ID, live.token)
    answer = requests.post(f"{base}/posnext/order/validate", data=data, headers=headers, timeout=30)
    assert answer.status_code == 200 and answer.json()["status"] == "validated", answer.text
    for path in ("/metrics", "/docs", "/openapi.json", "/", "/posnext"):
        r = requests.get(f"{base}{path}", timeout=5)
        assert r.status_code == 404 and r.headers["Content-Type"] == "application/json", path
        assert r.json()["errors"][0]["code"] == "not_found"


@pytest.mark.parametrize(
    ("name", "data", "status", "code"),
    [
        (
            "headers over 32 KiB",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(34))
            + b"\r\n",
            431,
            "header_fields_too_large",
        ),
        (
            "a request line over 8 KiB",
            b"GET /posnext/orders/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            414,
            "uri_too_long",
        ),
        (
            "a body over MAX_CONTENT_LENGTH",
            b"POST /posnext/order/submit HTTP/1.1\r\nHost: x\r\nContent-Length: 262145\r\n\r\n",
            413,
            "payload_too_large",
        ),
        (
            "a chunked body over it",
            b"POST /posnext/order/submit HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"8000\r\n"
            + b" " * 0x8000
            + b"\r\n" * 1
            + (b"8000\r\n" + b" " * 0x8000 + b"\r\n") * 8
            + b"0\r\n\r\n",
            413,
            "payload_too_large",
        ),
    ],
)
def test_the_caps_answer_as_json(door, name, data, status, code):
    _base, server = door
    with socket.create_connection(("127.0.0.1", server.listen_port), timeout=5) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert int(head.split()[1]) == status, (name, head)
    assert b"application/json" in head and json.loads(body)["errors"][0]["code"] == code


@pytest.mark.timeout(300)
def test_the_short_hostile_run_through_nginx_finds_nothing(tmp_path):
    report = tmp_path / "hostile.json"
    run = subprocess.run(
        [sys.executable, "-m", "hostile", "--short", "--nginx", "--report", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    result = json.loads(report.read_text())
    assert result["findings"] == [], run.stdout[-4000:]
    assert run.returncode == 0
    assert result["requests"] >= 400
    for status in ("413", "414", "431"):
        assert result["status_counts"].get(status), status
