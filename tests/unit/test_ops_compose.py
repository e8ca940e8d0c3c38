"""docker-compose.yml runs the Procfile's commands, and .env.example documents every variable.

No Docker engine here: the files are read and checked against the Procfile, app/settings.py's
DOCUMENTED and the variables the process files read.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from app.settings import DOCUMENTED
from bin.stack import procfile

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ("web", "worker", "beat", "flower", "possim")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def example() -> dict[str, str]:
    """NAME -> value of every `NAME=value` or `# NAME=value` line of .env.example."""
    found = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^#?\s?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_each_process_runs_exactly_its_procfile_command(compose):
    lines = procfile()
    assert set(PROCESSES) <= set(lines)
    for name in PROCESSES:
        service = compose["services"][name]
        shell, flag, script = service["command"]
        assert (shell, flag) == ("sh", "-c")
        assert script.replace("$$", "$") == f"exec {lines[name]}", name  # compose writes $ as $$
        assert service["env_file"] == ".env"
        assert service["build"] == "." and service["image"] == "posbridge:local"


def test_redis_is_7_with_aof_noeviction_and_a_named_volume(compose):
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command
    volume, target = redis["volumes"][0].split(":")
    assert target == "/data" and volume in compose["volumes"]
    for name in ("web", "worker", "beat", "flower"):
        assert compose["services"][name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_health_checks(compose):
    services = compose["services"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    web = services["web"]["healthcheck"]["test"]
    assert web[:3] == ["CMD", "python", "-c"] and "urllib" in web[3] and "/healthz" in web[3]
    compile(web[3], "healthcheck", "exec")
    assert f":{services['web']['environment']['PORT']}/healthz" in web[3]
    worker = services["worker"]["healthcheck"]["test"]
    assert worker[0] == "CMD-SHELL" and "celery -A workers inspect ping" in worker[1]
    # the node it pings is the one the Procfile names: worker-%h-${WORKER_NAME:-1}
    assert "--hostname worker-%h-${WORKER_NAME:-1}" in procfile()["worker"]
    assert "celery@worker-$(hostname)-${WORKER_NAME:-1}" in worker[1].replace("$$", "$")


def test_services_find_each_other_and_listen_beyond_loopback(compose):
    services = compose["services"]
    for name in ("web", "worker", "beat", "flower"):
        environment = services[name]["environment"]
        assert environment["REDIS_URL"] == "${REDIS_URL:-redis://redis:6379/0}"
        assert environment["POS_BASE_URL"] == "${POS_BASE_URL:-http://possim:9100}"
    assert services["flower"]["environment"]["FLOWER_ADDRESS"] == "0.0.0.0"
    assert services["possim"]["environment"]["POSSIM_HOST"] == "0.0.0.0"
    assert services["worker"]["environment"]["WORKER_METRICS_PORT"] == "${WORKER_METRICS_PORT:-9808}"


def test_the_image_is_python_311_slim_with_the_project_installed():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert re.search(r"^RUN pip install \.", dockerfile, re.M)
    assert re.search(r"^USER \w+", dockerfile, re.M)  # not root
    for needed in ("app", "workers", "schemas", "possim", "bin", "Procfile", "gunicorn.conf.py", "pyproject.toml"):
        assert re.search(rf"^COPY .*\b{re.escape(needed)}\b", dockerfile, re.M), needed


def test_env_example_documents_every_setting_with_its_default(example):
    missing = set(DOCUMENTED) - set(example)
    assert not missing, f".env.example does not document {sorted(missing)}"
    for name, (default, _meaning) in DOCUMENTED.items():
        if default is not None and re.fullmatch(r"[0-9.]+|true|false", default):
            assert example[name] == default, (name, example[name], default)


def test_env_example_documents_every_process_variable(example):
    read = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "Procfile").read_text()))
    for path in ("gunicorn.conf.py", "workers/flower.py", "app/metrics.py"):
        read |= set(re.findall(r"""environ(?:\.get)?\(?\[?['"]([A-Z_]+)['"]""", (ROOT / path).read_text()))
        read |= set(re.findall(r"""\.get\(['"]([A-Z][A-Z_]+)['"]""", (ROOT / path).read_text()))
    read -= {"PROMETHEUS_MULTIPROC_DIR"}  # gunicorn.conf.py's own, made per start
    assert {"WORKER_CONCURRENCY", "WEB_CONCURRENCY", "FLOWER_PORT", "WORKER_METRICS_PORT"} <= read
    assert not read - set(example), f".env.example does not document {sorted(read - set(example))}"
    for name, default in (("WORKER_CONCURRENCY", "100"), ("WORKER_NAME", "1"), ("POSSIM_PORT", "9100"),
                          ("POSSIM_HOST", "127.0.0.1")):
        assert f"${{{name}:-{default}}}" in (ROOT / "Procfile").read_text() and example[name] == default
