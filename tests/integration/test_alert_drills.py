"""Issue 20's drills on a live stack, judged by the alert rules themselves: the web's /metrics
and the worker's own are scraped once per step, each step read as one minute of Prometheus time,
and `promtool test rules` on those figures (ops/alerts.yml as shipped) tells which alerts would
fire: the right one, and not the wrong one. (The slow-POS drill needs the POS adapter's
`budget_cut` outcome; until then a cut call is `timeout`, an error.)"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bin.stack import free_port
from tests.support.factories import sample_order
from tests.support.live import start_live

ROOT = Path(__file__).resolve().parents[2]
STEPS = 12  # minutes of rule time: the rules' 5m windows and `for: 5m` are met by the last one


@pytest.fixture(scope="module")
def promtool() -> str:
    done = subprocess.run([str(ROOT / ".ci" / "promtool")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    port = free_port()
    stack = start_live(str(tmp_path_factory.mktemp("drills")), WORKER_METRICS_PORT=port)
    stack.worker_metrics = f"http://127.0.0.1:{port}/metrics"
    yield stack
    stack.stop()


def scraped(url: str, job: str, instance: str) -> dict[str, float]:
    """One scrape as Prometheus would store it: each sample with job and instance, and `up`."""
    up = f'up{{instance="{instance}",job="{job}"}}'
    try:
        response = requests.get(url, timeout=10)
    except requests.RequestException:
        return {up: 0}
    if response.status_code != 200:  # Prometheus counts a non-2xx answer as a failed scrape
        return {up: 0}
    text = response.text
    out = {up: 1.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not math.isfinite(sample.value):
                continue
            labels = {**sample.labels, "job": job, "instance": instance}
            text_labels = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            out[f"{sample.name}{{{text_labels}}}"] = sample.value
    return out


def drill(live, step) -> list[dict[str, float]]:
    """STEPS times: the step's traffic, then a scrape of the web and the worker."""
    steps = []
    for _ in range(STEPS):
        step()
        steps.append(
            {
                **scraped(f"{live.base_url}/metrics", "posbridge-web", "web"),
                **scraped(live.worker_metrics, "posbridge-worker", "worker"),
            }
        )
    return steps


def fired(promtool: str, steps: list[dict[str, float]], tmp_path: Path) -> set[str]:
    """The alerts firing at the last step: each is expected silent, and promtool names those that are not."""
    rules = yaml.safe_load((ROOT / "ops" / "alerts.yml").read_text())["groups"][0]["rules"]
    names = sorted({key for step in steps for key in step})
    series = [
        {"series": key, "values": " ".join(repr(step[key]) if key in step else "_" for step in steps)} for key in names
    ]
    test = {
        "rule_files": [str(ROOT / "ops" / "alerts.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "external_labels": {"runbook_base": "https://example.org"},
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": f"{len(steps) - 1}m", "alertname": rule["alert"], "exp_alerts": []} for rule in rules
                ],
            }
        ],
    }
    path = tmp_path / "drill_test.yml"
    path.write_text(yaml.safe_dump(test))
    done = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=120)
    out = done.stdout + done.stderr
    found = set(re.findall(r"alertname: (\w+), time:", out))
    assert done.returncode == (1 if found else 0), out  # no other failure (a series promtool could not read)
    return found


def submits(live, count: int = 2):
    def step():
        for _ in range(count):
            live.submit(sample_order(), timeout=30)

    return step


def test_a_quiet_stack_fires_nothing(live, promtool, tmp_path):
    live.warm_menu()
    assert fired(promtool, drill(live, submits(live)), tmp_path) == set()


def test_the_pos_down_pages_as_down(live, promtool, tmp_path):
    live.knobs("*", down=True)
    try:
        alerts = fired(promtool, drill(live, submits(live)), tmp_path)
    finally:
        live.reset_pos()
    assert "PosbridgePosErrorRatio" in alerts, alerts
    assert not alerts & {"PosbridgePosSlow", "PosbridgeWebDown", "PosbridgeWeb5xxRatio"}, alerts


def test_a_slow_pos_is_a_slow_ticket_not_a_down_page(live, promtool, tmp_path):
    """Issue 20, finding 2: a 4 s POS paged as "the POS is down" (a call cut by the budget was a
    timeout); now it is budget_cut: PosbridgePosSlow, and not the error ratio."""
    live.knobs("*", latency_ms=4000)
    try:
        alerts = fired(promtool, drill(live, submits(live)), tmp_path)
    finally:
        live.reset_pos()
    assert "PosbridgePosSlow" in alerts, alerts
    assert not alerts & {"PosbridgePosErrorRatio", "PosbridgeWebDown", "PosbridgeWeb5xxRatio"}, alerts


def test_a_frozen_redis_pages_as_5xx_while_the_web_still_answers_its_scrape(live, promtool, tmp_path):
    pid = live.redis_server.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        steps = drill(live, submits(live))
    finally:
        os.kill(pid, signal.SIGCONT)
    alerts = fired(promtool, steps, tmp_path)
    assert "PosbridgeWeb5xxRatio" in alerts, alerts
    assert not alerts & {"PosbridgeWebDown", "PosbridgePosErrorRatio", "PosbridgePosSlow"}, alerts
    assert all(step.get('posbridge_metrics_redis_up{instance="web",job="posbridge-web"}') == 0 for step in steps)
