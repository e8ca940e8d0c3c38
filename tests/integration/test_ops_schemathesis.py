"""Schemathesis against the live service, driven by its own /openapi.json.

The `schemathesis run` CLI (a subprocess, bounded: 30 examples per operation, one worker, a
fixed seed) checks every answer: no 5xx, and every status, content type, header and body as
the document says. The JWT goes in through the document's bearerAuth scheme, so the checks that
drop it see the 401. A hook signs half of the order bodies with x-pch-digest so they reach the
business rules and the POS; the other half keep the generated digest and must get the
documented 401.

Two checks stay off, each for a reason the document cannot express:
- positive_data_acceptance: JSON Schema cannot say "a decimal with at most two places" (money)
  or "printable, no '/'" (request_uid), so some schema-valid bodies are rightly refused with 400;
- allow_header_conformance: /posnext/orders/{order_id} also matches /posnext/orders/submit, so
  Werkzeug rightly advertises GET there (an order whose request_uid is "submit" can be polled).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.live import SHARED_ID, start_live

HOOKS = '''
import hashlib
import json
import os
import time

import schemathesis

from app import signing

KEY = signing.key_from_shared_id(os.environ["PAR_SHARED_ID"])


@schemathesis.hook
def before_call(context, case, kwargs):
    """Sign half the order bodies (chosen by the body itself) that carry an x-pch-digest."""
    if case.method.upper() != "POST" or not case.path.endswith(("/validate", "/submit")):
        return
    if not isinstance(case.body, dict) or "x-pch-digest" not in (case.headers or {}):
        return
    choice = hashlib.sha256(json.dumps(case.body, sort_keys=True, default=str).encode()).digest()
    if choice[0] % 2:
        return
    # Half of the signed ones made recent (a new order must be: REQUEST_MAX_AGE_SECONDS), so they
    # can reach the POS; the other half keep the document's old time and meet the rules' refusal.
    if choice[1] % 2 and isinstance(case.body.get("request_datetime"), str):
        case.body["request_datetime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    case.headers["x-pch-digest"] = signing.sign(KEY, case.body)
'''
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
    "response_schema_conformance,negative_data_rejection,missing_required_header,unsupported_method,"
    "ignored_auth"
)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """As deployed: Redis with AOF and appendfsync always, so /readyz's durability check holds
    (a 503 there would be a server error to schemathesis)."""
    stack = start_live(str(tmp_path_factory.mktemp("live")), redis_aof=True)
    yield stack
    stack.stop()


def test_the_live_service_conforms_to_its_own_document(live, tmp_path):
    live.reset_pos()
    document = requests.get(f"{live.base_url}/openapi.json", timeout=10).json()
    operations = {f"{method.upper()} {path}" for path, methods in document["paths"].items() for method in methods}
    (tmp_path / "posbridge_st_hooks.py").write_text(HOOKS)
    (tmp_path / "schemathesis.toml").write_text('[auth.openapi.bearerAuth]\nbearer = "${POSBRIDGE_JWT}"\n')
    root = Path(__file__).resolve().parents[2]
    env = {
        **live.stack.env,
        "POSBRIDGE_JWT": live.token,
        "PAR_SHARED_ID": SHARED_ID,
        "SCHEMATHESIS_HOOKS": "posbridge_st_hooks",
        "PYTHONPATH": f"{tmp_path}:{root}",
    }
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        "schemathesis.toml",
        "run",
        f"{live.base_url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        "30",
        "--seed",
        "1",
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-12000:]
    junit = next((tmp_path / "report").glob("junit*.xml")).read_text()
    tested = set(re.findall(r'<testcase [^>]*name="([^"]+)"', junit))
    assert tested == operations - {"GET /openapi.json"}, tested  # it leaves out the document's own URL
    assert "not_a_server_error" in CHECKS and "response_schema_conformance" in CHECKS
    stats = {k.decode(): int(v) for k, v in live.redis.hgetall("stats:orders").items()}
    # signed bodies got past the digest to the rules and the POS (which of placed or rejected, and
    # how many, is the generator's draw)
    assert any(key.startswith(("submit|placed", "submit|rejected")) for key in stats), stats
    assert json.loads(requests.get(f"{live.base_url}/healthz", timeout=10).text) == {"status": "ok"}
