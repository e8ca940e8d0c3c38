"""Settings: every variable of operations.md read; missing or malformed ones refused by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import DOCUMENTED, ConfigError, load_settings
from tests.conftest import BASE_ENV
from tests.support.factories import rsa_pair

ROOT = Path(__file__).resolve().parents[3]
MINIMAL = {
    "REDIS_URL": "redis://cache.internal:6379/0",
    "POS_BASE_URL": "http://pos.internal:9000/",
    "POS_API_TOKEN": "pos-token",
    "PAR_SHARED_ID": "SharedId-0123456789",
    "PAR_JWT_SECRET": "jwt-secret-of-32-bytes-0123456789",
}
OPERATIONS_VARIABLES = (
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "POS_BASE_URL",
    "POS_API_TOKEN",
    "PAR_SHARED_ID",
    "PAR_JWT_SECRET",
    "PAR_JWT_PUBLIC_KEY",
    "PAR_JWT_ISSUER",
    "PAR_JWT_AUDIENCE",
    "INLINE_BUDGET_MS",
    "ORDER_MAX_ASYNC_SECONDS",
    "ORDER_RETENTION_DAYS",
    "MENU_REFRESH_SECONDS",
    "MAX_CONTENT_LENGTH",
    "FLOWER_BASIC_AUTH",
    "CALLBACK_ALLOW_PRIVATE",
    "PORT",
)


def load(**changes):
    env = dict(MINIMAL)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return load_settings(env)


def test_defaults_are_the_documented_ones():
    s = load()
    assert s.redis_url == "redis://cache.internal:6379/0"
    assert s.broker_url == s.redis_url
    assert s.result_backend is None
    assert s.pos_base_url == "http://pos.internal:9000"
    assert (s.jwt_public_key, s.jwt_issuer, s.jwt_audience, s.flower_basic_auth) == (None, None, None, None)
    assert (s.inline_budget_ms, s.order_max_async_seconds, s.order_retention_days) == (2500, 900, 30)
    assert (s.menu_refresh_seconds, s.max_content_length, s.port) == (300, 262144, 8000)
    assert s.callback_allow_private is False
    assert s.future_horizon_days == 7


def test_every_operations_variable_is_documented_in_settings():
    assert set(OPERATIONS_VARIABLES) <= set(DOCUMENTED)


READ = [
    ("REDIS_URL", "rediss://r.example:6380/2", "redis_url", "rediss://r.example:6380/2"),
    ("CELERY_BROKER_URL", "amqp://guest@mq:5672//", "broker_url", "amqp://guest@mq:5672//"),
    ("CELERY_RESULT_BACKEND", "redis://r:6379/3", "result_backend", "redis://r:6379/3"),
    ("POS_BASE_URL", "https://pos.example/api/", "pos_base_url", "https://pos.example/api"),
    ("POS_API_TOKEN", "another-token", "pos_api_token", "another-token"),
    ("PAR_SHARED_ID", "ABCDEFGHIJKLMNOP", "par_shared_id", "ABCDEFGHIJKLMNOP"),
    ("PAR_JWT_SECRET", "s3cret-" + "x" * 25, "jwt_secret", "s3cret-" + "x" * 25),
    ("PAR_JWT_ISSUER", "https://par.example", "jwt_issuer", "https://par.example"),
    ("PAR_JWT_AUDIENCE", "posbridge", "jwt_audience", "posbridge"),
    ("INLINE_BUDGET_MS", "1200", "inline_budget_ms", 1200),
    ("ORDER_MAX_ASYNC_SECONDS", "120", "order_max_async_seconds", 120),
    ("ORDER_RETENTION_DAYS", "7", "order_retention_days", 7),
    ("MENU_REFRESH_SECONDS", "60", "menu_refresh_seconds", 60),
    ("MAX_CONTENT_LENGTH", "4096", "max_content_length", 4096),
    ("FLOWER_BASIC_AUTH", "ops:pa:ss-of-16-chars", "flower_basic_auth", "ops:pa:ss-of-16-chars"),
    ("CALLBACK_ALLOW_PRIVATE", "true", "callback_allow_private", True),
    ("CALLBACK_ALLOW_PRIVATE", "0", "callback_allow_private", False),
    ("PORT", "9001", "port", 9001),
    ("FUTURE_HORIZON_DAYS", "3", "future_horizon_days", 3),
    ("POS_CONNECT_TIMEOUT", "0.5", "pos_connect_timeout", 0.5),
    ("POS_READ_TIMEOUT", "4", "pos_read_timeout", 4.0),
]


@pytest.mark.parametrize(("name", "value", "attribute", "expected"), READ, ids=[f"{r[0]}={r[1]}" for r in READ])
def test_each_variable_is_read(name, value, attribute, expected):
    assert getattr(load(**{name: value}), attribute) == expected


def test_public_key_is_read_instead_of_the_secret():
    public = rsa_pair()[1]
    s = load(PAR_JWT_SECRET=None, PAR_JWT_PUBLIC_KEY=public)
    assert s.jwt_public_key == public and s.jwt_secret is None


MISSING = ["REDIS_URL", "POS_BASE_URL", "POS_API_TOKEN", "PAR_SHARED_ID", "PAR_JWT_SECRET"]


@pytest.mark.parametrize("name", MISSING)
@pytest.mark.parametrize("absent", [None, ""], ids=["unset", "empty"])
def test_a_missing_required_variable_is_named(name, absent):
    with pytest.raises(ConfigError) as caught:
        load(**{name: absent})
    assert caught.value.name == name
    assert name in str(caught.value)


MALFORMED = [
    ("REDIS_URL", "http://cache:6379"),
    ("REDIS_URL", "localhost:6379"),
    ("CELERY_BROKER_URL", "http://mq"),
    ("CELERY_RESULT_BACKEND", "db+sqlite:///x"),
    ("POS_BASE_URL", "ftp://pos"),
    ("POS_BASE_URL", "pos.internal"),
    ("PAR_SHARED_ID", "123456789"),
    ("PAR_JWT_PUBLIC_KEY", "not a pem key"),
    ("INLINE_BUDGET_MS", "fast"),
    ("INLINE_BUDGET_MS", "0"),
    ("INLINE_BUDGET_MS", "2.5"),
    ("ORDER_MAX_ASYNC_SECONDS", "-1"),
    ("ORDER_RETENTION_DAYS", "thirty"),
    ("MENU_REFRESH_SECONDS", "1e3"),
    ("MAX_CONTENT_LENGTH", "100"),
    ("FLOWER_BASIC_AUTH", "no-colon"),
    ("CALLBACK_ALLOW_PRIVATE", "maybe"),
    ("PORT", "http"),
    ("PORT", "70000"),
    ("PORT", "0"),
    ("FUTURE_HORIZON_DAYS", "x"),
    ("POS_CONNECT_TIMEOUT", "0"),
    ("POS_READ_TIMEOUT", "slow"),
    ("POS_READ_TIMEOUT", "nan"),
    ("POS_READ_TIMEOUT", "inf"),
    ("SWEEP_SECONDS", "-5"),
    ("CALLBACK_MAX_ATTEMPTS", "0"),
    ("RETRY_BASE_SECONDS", "-0.5"),
    ("RETRY_CAP_SECONDS", "never"),
]


@pytest.mark.parametrize(("name", "value"), MALFORMED, ids=[f"{n}={v}" for n, v in MALFORMED])
def test_a_malformed_variable_is_named(name, value):
    with pytest.raises(ConfigError) as caught:
        load(**{name: value})
    assert caught.value.name == name
    assert str(caught.value).startswith(f"configuration error: {name}:")


def test_a_secret_is_never_echoed_in_the_error():
    with pytest.raises(ConfigError) as caught:
        load(PAR_SHARED_ID="tooShort9")
    assert "tooShort9" not in str(caught.value)


def test_secrets_can_come_from_files(tmp_path):
    for name, value in (
        ("POS_API_TOKEN", "from-file-token"),
        ("PAR_SHARED_ID", "FileShared0123"),
        ("PAR_JWT_SECRET", "file-jwt-secret-of-32-bytes-0123"),
    ):
        (tmp_path / name).write_text(value + "\n")
    s = load(
        POS_API_TOKEN=None,
        PAR_SHARED_ID=None,
        PAR_JWT_SECRET=None,
        POS_API_TOKEN_FILE=str(tmp_path / "POS_API_TOKEN"),
        PAR_SHARED_ID_FILE=str(tmp_path / "PAR_SHARED_ID"),
        PAR_JWT_SECRET_FILE=str(tmp_path / "PAR_JWT_SECRET"),
    )
    assert (s.pos_api_token, s.par_shared_id, s.jwt_secret) == (
        "from-file-token",
        "FileShared0123",
        "file-jwt-secret-of-32-bytes-0123",
    )
    assert s.digest_key == b"FileShared"


def test_a_value_wins_over_its_file(tmp_path):
    (tmp_path / "token").write_text("from-file")
    assert load(POS_API_TOKEN_FILE=str(tmp_path / "token")).pos_api_token == "pos-token"


def test_an_unreadable_secret_file_is_named(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(POS_API_TOKEN=None, POS_API_TOKEN_FILE=str(tmp_path / "absent"))
    assert caught.value.name == "POS_API_TOKEN_FILE"


def test_an_empty_secret_file_counts_as_missing(tmp_path):
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError) as caught:
        load(POS_API_TOKEN=None, POS_API_TOKEN_FILE=str(tmp_path / "empty"))
    assert caught.value.name == "POS_API_TOKEN"


def test_a_short_shared_id_from_a_file_is_refused(tmp_path):
    (tmp_path / "sid").write_text("short")
    with pytest.raises(ConfigError) as caught:
        load(PAR_SHARED_ID=None, PAR_SHARED_ID_FILE=str(tmp_path / "sid"))
    assert caught.value.name == "PAR_SHARED_ID"


def _start(code_or_args: list[str]):
    env = {k: v for k, v in BASE_ENV.items() if k != "POS_API_TOKEN"}
    env.update(PATH=os.environ.get("PATH", "/usr/bin:/bin"), HOME=os.environ.get("HOME", "/tmp"))
    return subprocess.run(code_or_args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("module", ["app.wsgi", "workers"])
def test_a_process_without_pos_api_token_exits_naming_it(module):
    done = _start([sys.executable, "-c", f"import {module}"])
    assert done.returncode != 0
    assert "POS_API_TOKEN" in done.stderr
    assert "Traceback" not in done.stderr


def test_celery_cli_without_pos_api_token_exits_naming_it():
    done = _start([str(Path(sys.executable).parent / "celery"), "-A", "workers", "report"])
    assert done.returncode != 0
    assert "POS_API_TOKEN" in done.stderr + done.stdout


# Every value the repository ever documented as an example secret (git log -p -S on .env.example,
# bin/run.py's DEV_DEFAULTS and the table's `example`s): public, so never anyone's secret.
EXAMPLES = [
    ("POS_API_TOKEN", "dev-pos-token"),
    ("POS_API_TOKEN", "change-me-pos-token"),
    ("PAR_SHARED_ID", "devshared0123456789"),
    ("PAR_SHARED_ID", "change-me-shared-id"),
    ("PAR_JWT_SECRET", "dev-jwt-secret-change-me-0123456789"),
    ("PAR_JWT_SECRET", "change-me-jwt-secret"),
    ("PAR_JWT_SECRET", "dev-jwt-secret-change-me"),
    ("FLOWER_BASIC_AUTH", "oncall:change-me-flower-password"),
    ("REDIS_URL", "redis://:change-me-redis-password@redis:6379/0"),
]


@pytest.mark.parametrize(("name", "value"), EXAMPLES)
def test_a_documented_example_is_refused_as_a_secret(name, value):
    """Issue 23, finding 5: before: `cp .env.example .env` gave a service that accepted the repository's own values."""
    with pytest.raises(ConfigError) as caught:
        load(**{name: value})
    assert caught.value.name == name and value not in str(caught.value)


def test_a_shared_id_with_an_examples_key_is_refused():
    """Issue 23, finding 5:
    only the first 10 characters key x-pch-digest: `devshared0` + anything signs as the example."""
    with pytest.raises(ConfigError, match="PAR_SHARED_ID"):
        load(PAR_SHARED_ID="devshared0-and-more")


@pytest.mark.parametrize(
    ("name", "short", "enough"),
    [
        ("PAR_JWT_SECRET", "j" * 31, "j" * 32),  # RFC 7518 3.2: an HS256 key of at least 256 bits
        ("PAR_JWT_SECRET", "é" * 15 + "j", "é" * 16),  # bytes, not characters
        ("FLOWER_BASIC_AUTH", "oncall:" + "p" * 15, "oncall:" + "p" * 16),
        ("REDIS_URL", "redis://:" + "p" * 15 + "@r:6379/0", "redis://:" + "p" * 16 + "@r:6379/0"),
        ("CELERY_BROKER_URL", "redis://:" + "p" * 15 + "@r:6379/0", "redis://:" + "p" * 16 + "@r:6379/0"),
    ],
)
def test_short_secrets_we_choose_are_refused(name, short, enough):
    """Issue 23, finding 5."""
    with pytest.raises(ConfigError) as caught:
        load(**{name: short})
    assert caught.value.name == name
    load(**{name: enough})


def test_env_example_carries_no_secret():
    """Issue 23, finding 5."""
    values = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for name in (
        "POS_API_TOKEN",
        "PAR_SHARED_ID",
        "PAR_JWT_SECRET",
        "FLOWER_BASIC_AUTH",
        "REDIS_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
    ):
        assert values.get(name) == "", (name, values.get(name))
