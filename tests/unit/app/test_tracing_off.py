"""Traces off (no OTEL_EXPORTER_OTLP_ENDPOINT, the default): building the app, a submit and a
task's send import nothing of OpenTelemetry (nor wrapt, its instrumentations' patcher) beyond
what `import redis` alone loads (redis-py 8 imports the metrics SDK when it is installed, for
metrics it records only once initialised, which we never do: about 50 ms once per process,
docs/OPERATIONS.md). In a process of its own: this one may have imported them for other tests."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent("""
    import json, sys
    import redis

    def otel():
        return {m for m in sys.modules if m.split(".")[0] in ("opentelemetry", "wrapt")}

    by_redis = otel()
    import fakeredis
    from celery import Celery
    from app import create_app, tracing
    from app.settings import load_settings
    from app.orders.lifecycle import Move
    from app.tasks import CeleryTasks
    from tests.support.factories import encode, sample_order
    from tests.support.factories import make_token
    from tests.conftest import BASE_ENV, JWT_SECRET, SHARED_ID
    from tests.support.fakes import FakePos

    env = dict(BASE_ENV, **json.loads(sys.argv[1]))
    redis = fakeredis.FakeRedis()
    tasks = CeleryTasks(Celery("off", broker="memory://"), traces=tracing.order_traces(redis))
    app = create_app(load_settings(env), redis_client=redis, pos=FakePos(), tasks=tasks)
    data, headers = encode(sample_order(), SHARED_ID, make_token(JWT_SECRET))
    status = app.test_client().post("/posnext/order/submit", data=data, headers=headers).status_code
    tasks.send(Move.ORDER, "uid-off")
    print(json.dumps({"status": status, "active": tracing.active(),
                      "by_redis": sorted(by_redis), "loaded": sorted(otel() - by_redis)}))
""")


def run(extra_env: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(extra_env)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_off_imports_no_opentelemetry():
    result = run({})
    assert result["status"] == 200 and not result["active"]
    assert result["loaded"] == []
    # what redis-py loads has no tracing SDK, exporter or instrumentation in it
    assert not [
        m
        for m in result["by_redis"]
        if m.startswith(("opentelemetry.sdk.trace", "opentelemetry.exporter", "opentelemetry.instrumentation", "wrapt"))
    ]


def test_on_the_same_script_loads_it():  # the check above can fail: this is what it would see
    result = run({"POSBRIDGE_TRACES_FILE": "/dev/null"})
    assert result["status"] == 200 and result["active"]
    assert {"opentelemetry.sdk.trace", "opentelemetry.instrumentation.redis", "wrapt"} <= set(result["loaded"])
