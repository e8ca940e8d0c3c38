"""docker-compose.yml runs the Procfile's commands with pinned images, a Redis password, health
checks and the simulator only in the demo profile; the Dockerfile installs from the lock; the lock
matches pyproject.toml; .env.example documents every variable the process files read.

No Docker engine here: the files are read and checked against the Procfile, app/settings.py's
table and the variables the process files read.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from app.settings import BY_NAME, DOCUMENTED
from bin.stack import procfile

try:
    import tomllib
except ImportError:  # pragma: no cover - Python 3.11+ has it
    tomllib = None

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ("web", "worker", "beat", "flower", "console", "possim")


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


def test_redis_is_pinned_with_a_password_aof_always_and_noeviction(compose):
    redis = compose["services"]["redis"]
    assert re.fullmatch(r"redis:7\.\d+\.\d+(-\w+)?", redis["image"])
    command = " ".join(redis["command"])
    assert '--requirepass "$$REDIS_PASSWORD"' in command
    assert "--appendonly yes" in command and "--appendfsync always" in command  # DURABILITY=fsync
    assert "--maxmemory-policy noeviction" in command
    # a limit, so noeviction acts (writes refused) before the host runs out (issue 20, finding 7)
    assert re.search(r"--maxmemory \$\$\{REDIS_MAXMEMORY:-\d+[mg]b\}", command), command
    assert redis["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    assert redis["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")  # the health check's ping
    volume, target = redis["volumes"][0].split(":")
    assert target == "/data" and volume in compose["volumes"]
    for name in ("web", "worker", "beat", "flower", "console"):
        assert compose["services"][name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_health_checks(compose):
    services = compose["services"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    for name in ("web", "beat", "flower", "console", "possim"):
        assert services[name]["healthcheck"]["test"] == ["CMD", "python", "-m", "bin.healthcheck", name], name
    worker = services["worker"]["healthcheck"]["test"]
    assert worker[0] == "CMD-SHELL" and "celery -A workers inspect ping" in worker[1]
    # the node it pings is the one the Procfile names: worker-%h-${WORKER_NAME:-1}
    assert "--hostname worker-%h-${WORKER_NAME:-1}" in procfile()["worker"]
    assert "celery@worker-$(hostname)-${WORKER_NAME:-1}" in worker[1].replace("$$", "$")


def test_services_find_each_other_and_the_pos_is_never_defaulted(compose):
    services = compose["services"]
    for name in ("web", "worker", "beat", "flower", "console"):
        environment = services[name]["environment"]
        assert (
            environment["REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")
            and "@redis:6379/0" in environment["REDIS_URL"]
        )
        assert environment["POS_BASE_URL"].startswith("${POS_BASE_URL:?"), "an unset POS_BASE_URL must stop compose"
    assert services["flower"]["environment"]["FLOWER_ADDRESS"] == "0.0.0.0"
    assert services["flower"]["ports"] == ["127.0.0.1:5555:5555"]  # published on the host's loopback only
    assert services["console"]["environment"]["CONSOLE_ADDRESS"] == "0.0.0.0"
    assert services["console"]["ports"] == ["127.0.0.1:5556:5556"]  # the order console: the same
    assert services["possim"]["environment"]["POSSIM_HOST"] == "0.0.0.0"
    assert services["possim"]["profiles"] == ["demo"]
    assert services["worker"]["environment"]["WORKER_METRICS_PORT"] == "${WORKER_METRICS_PORT:-9808}"


def test_every_image_is_pinned(compose):
    for name, service in compose["services"].items():
        if "image" in service and "build" not in service:
            # PostgreSQL numbers a release MAJOR.MINOR (16.6 is one exact release)
            exact = r"postgres:\d+\.\d+(-\w+)?$" if name == "postgres" else r":v?\d+\.\d+\.\d+"
            assert re.search(exact, service["image"]), (name, service["image"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim-\w+$", dockerfile, re.M)


def test_the_image_installs_from_the_lock_and_checks_its_health():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^RUN pip install --require-hashes -r requirements\.lock$", dockerfile, re.M)
    # the project itself, built with the locked setuptools (no isolated build downloading another)
    assert re.search(r"^RUN pip install --no-deps --no-build-isolation \.", dockerfile, re.M)
    assert re.search(r"^HEALTHCHECK .*bin\.healthcheck", dockerfile, re.M)
    assert re.search(r"^USER \w+", dockerfile, re.M)  # not root
    for needed in (
        "app",
        "workers",
        "schemas",
        "possim",
        "bin",
        "Procfile",
        "gunicorn.conf.py",
        "pyproject.toml",
        "requirements.lock",
    ):
        assert re.search(rf"^COPY .*\b{re.escape(needed)}\b", dockerfile, re.M), needed


def locked(path: str = "requirements.lock") -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a lock file."""
    found: dict[str, tuple[str, list[str]]] = {}
    name = None
    for line in (ROOT / path).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^ ;\\]+)", line)
        if match:
            name = re.sub(r"[-_.]+", "-", match.group(1).split("[")[0]).lower()
            found[name] = (match.group(2), [])
        elif name and "--hash=sha256:" in line:
            found[name][1].append(line.strip().split("--hash=")[1].rstrip(" \\"))
    return found


def _names(specs: list[str]) -> list[Requirement]:
    return [Requirement(spec) for spec in specs]


@pytest.mark.parametrize(("path", "extras"), [("requirements.lock", ()), ("requirements-dev.lock", ("dev",))])
def test_the_locks_match_pyproject_and_have_hashes(path, extras):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = locked(path)
    specs = project["dependencies"] + [s for extra in extras for s in project["optional-dependencies"][extra]]
    for requirement in _names(specs):
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in lock, f"{name} is not in {path}: run ./dev lock"
        assert requirement.specifier.contains(lock[name][0], prereleases=True), (path, str(requirement))
    assert "celery-redbeat" in lock
    assert all(hashes for _, hashes in lock.values()), "every locked package carries its hashes"
    if not extras:
        assert "pytest" not in lock, "the service's lock holds no test tools"


def test_the_dev_lock_pins_the_services_packages_alike():
    service, dev = locked("requirements.lock"), locked("requirements-dev.lock")
    assert {n: v for n, (v, _) in service.items()} == {n: dev[n][0] for n in service}


def test_dev_ci_and_docker_install_from_the_lock():
    dev = (ROOT / "dev").read_text()
    assert "pip install -q --require-hashes -r requirements-dev.lock" in dev and "--no-deps" in dev
    assert "lock)" in dev and "uv pip compile pyproject.toml" in dev and "--generate-hashes" in dev
    assert "./dev lint" in (ROOT / ".ci" / "run").read_text()


def test_env_example_documents_every_setting_with_its_default(example):
    missing = set(DOCUMENTED) - set(example)
    assert not missing, f".env.example does not document {sorted(missing)}"
    for name, (default, _meaning) in DOCUMENTED.items():
        if default is not None and re.fullmatch(r"[0-9.]+|true|false", default):
            assert example[name] == default, (name, example[name], default)


def test_env_example_documents_every_process_variable(example):
    read = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "Procfile").read_text()))
    for path in ("gunicorn.conf.py", "workers/flower.py", "app/metrics.py", "bin/healthcheck.py"):
        read |= set(re.findall(r"""process_value\(['"]([A-Z_]+)['"]""", (ROOT / path).read_text()))
    assert read <= set(BY_NAME), read - set(BY_NAME)
    assert {"WORKER_CONCURRENCY", "WEB_CONCURRENCY", "FLOWER_PORT", "WORKER_METRICS_PORT"} <= read
    assert not read - set(example), f".env.example does not document {sorted(read - set(example))}"
    for name, default in (
        ("WORKER_CONCURRENCY", "100"),
        ("WORKER_NAME", "1"),
        ("POSSIM_PORT", "9100"),
        ("POSSIM_HOST", "127.0.0.1"),
    ):
        assert f"${{{name}:-{default}}}" in (ROOT / "Procfile").read_text() and example[name] == default


def test_pytest_prints_its_summary_with_q():
    """`./dev test tests/unit -q` printed no summary line: addopts had -q already (-qq hides it)."""
    addopts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    assert "-q" not in addopts.split()


def test_issue_23_nginx_is_the_front_door_and_the_web_is_not_published(compose):
    """Before: the web published 8000 itself: every client's bytes reached gunicorn first."""
    services = compose["services"]
    assert "ports" not in services["web"] and services["web"]["expose"] == ["8000"]
    nginx = services["nginx"]
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+-\w+", nginx["image"])
    assert nginx["volumes"] == ["./deploy/nginx/posbridge.conf:/etc/nginx/conf.d/default.conf:ro"]
    assert (
        nginx["ports"] == ["8000:8080"]
        and "listen 8080 default_server;" in (ROOT / "deploy" / "nginx" / "posbridge.conf").read_text()
    )
    assert "server web:8000;" in (ROOT / "deploy" / "nginx" / "posbridge.conf").read_text()
    assert nginx["depends_on"]["web"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(nginx["healthcheck"]["test"])


def test_postgresql_is_pinned_with_a_volume_a_healthcheck_and_migrated_once(compose):
    """Issue 21, 5: the archive's PostgreSQL; its table migrated by one one-shot before the processes."""
    services = compose["services"]
    postgres = services["postgres"]
    volume, target = postgres["volumes"][0].split(":")
    assert target == "/var/lib/postgresql/data" and volume in compose["volumes"]
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    migrate = services["archive-migrate"]
    assert migrate["command"] == ["sh", "-c", "exec posbridge archive migrate"] and migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("web", "worker", "beat", "flower"):
        assert services[name]["depends_on"]["archive-migrate"] == {"condition": "service_completed_successfully"}
        assert "@postgres:5432/" in services[name]["environment"]["ARCHIVE_URL"]
        assert "migrate" not in " ".join(services[name]["command"])  # never by every process
