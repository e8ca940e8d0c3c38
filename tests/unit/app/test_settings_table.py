"""One table of variables: it generates Settings, .env.example and the README's table; nothing
else reads the environment; the engine's new variables are in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.settings import BY_NAME, REQUIRED, VARIABLES, ConfigError, load_settings
from app.settings_files import env_example
from tests.conftest import BASE_ENV

ROOT = Path(__file__).resolve().parents[3]


def readme_rows() -> dict[str, tuple[str, str]]:
    """`| NAME[, NAME2] | default | meaning |` rows of the README's configuration table."""
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        match = re.match(r"^\| (`[A-Z][A-Z0-9_]*`(?:(?:, | / )`[A-Z][A-Z0-9_]*`)*) \| (.*?) \| (.*) \|$", line)
        if match:
            for name in re.findall(r"`([A-Z0-9_]+)`", match.group(1)):
                rows[name] = (match.group(2), match.group(3))
    return rows


def test_env_example_is_generated_from_the_table():
    assert (ROOT / ".env.example").read_text() == env_example(), "run: posbridge config env-example > .env.example"


def test_the_readme_documents_every_variable_with_its_default():
    rows = readme_rows()
    missing = [v.name for v in VARIABLES if v.name not in rows]
    assert not missing, f"README's configuration table lacks {missing}"
    for var in VARIABLES:
        if var.default is not REQUIRED and var.default is not None and var.shown is None:
            assert var.documented_default in rows[var.name][0], (var.name, rows[var.name][0])
    extra = set(rows) - set(BY_NAME)
    assert not extra, f"README documents variables the table does not have: {sorted(extra)}"


def test_every_settings_attribute_comes_from_the_table():
    settings = load_settings(BASE_ENV)
    for var in VARIABLES:
        if var.attr:
            assert hasattr(settings, var.attr), var.attr
    assert settings.broker_url == settings.redis_url
    assert settings.digest_key == BASE_ENV["PAR_SHARED_ID"][:10].encode()
    assert settings.dispatch_grace == max(3.0, 5.0 * settings.sweep_seconds)
    assert settings.sentinel_hosts == ()


@pytest.mark.parametrize(
    ("name", "value", "attr", "expected"),
    [
        ("REQUEST_MAX_AGE_SECONDS", None, "request_max_age_seconds", 300),
        ("RECONCILE_SECONDS", None, "reconcile_seconds", 900),
        ("REDIS_SENTINELS", None, "redis_sentinels", None),
        ("REDIS_SENTINELS", "s1:26379, [::1]:26380", "redis_sentinels", "s1:26379, [::1]:26380"),
        ("REDIS_SENTINELS", "s1:26379, [::1]:26380", "sentinel_hosts", (("s1", 26379), ("::1", 26380))),
        ("REDIS_SENTINEL_MASTER", None, "redis_sentinel_master", "mymaster"),
        ("DURABILITY", None, "durability", "fsync"),
        ("DURABILITY", "replica", "durability", "replica"),
        ("DURABILITY_REPLICAS", None, "durability_replicas", 1),
        ("DURABILITY_TIMEOUT_MS", None, "durability_timeout_ms", 1000),
        ("POS_ADAPTER", None, "pos_adapter", "rest"),
        ("CLOCK_SKEW_SECONDS", None, "clock_skew_seconds", 1.0),
        ("CLOCK_SKEW_SECONDS", "0", "clock_skew_seconds", 0.0),
        ("SWEEP_SECONDS", None, "sweep_seconds", 2),
    ],
)
def test_the_engines_variables(name, value, attr, expected):
    env = dict(BASE_ENV)
    if value is not None:
        env[name] = value
    assert getattr(load_settings(env), attr) == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_SENTINELS", "nohost"),
        ("REDIS_SENTINELS", "h:99999"),
        ("DURABILITY", "maybe"),
        ("DURABILITY_REPLICAS", "0"),
        ("POS_ADAPTER", "soap"),
        ("CLOCK_SKEW_SECONDS", "-1"),
    ],
)
def test_the_engines_variables_are_checked(name, value):
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE_ENV, name: value})
    assert caught.value.name == name


def test_all_problems_at_once():
    with pytest.raises(ConfigError) as caught:
        load_settings({"INLINE_BUDGET_MS": "x", "PORT": "0"})
    names = [name for name, _ in caught.value.problems]
    assert names == [
        "REDIS_URL",
        "POS_BASE_URL",
        "POS_API_TOKEN",
        "PAR_SHARED_ID",
        "INLINE_BUDGET_MS",
        "PORT",
        "PAR_JWT_SECRET",
    ]
    assert str(caught.value).count("configuration error:") == 7


OWN_READERS = {"app/settings.py"}


def test_no_module_reads_the_environment_but_settings():
    readers = []
    for folder in ("app", "workers", "schemas"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            relative = str(path.relative_to(ROOT))
            if relative in OWN_READERS:
                continue
            for match in re.finditer(r"os\.environ(?!\[[^\]]+\]\s*=)|os\.getenv|getenv\(", text):
                readers.append(f"{relative}: {text[max(0, match.start() - 30) : match.end() + 30]!r}")
    # app/pos/rest.py's REQUESTS_CA_BUNDLE read is routed by the lead (issue 10's rewrite)
    readers = [r for r in readers if not r.startswith("app/pos/rest.py")]
    assert not readers, readers


def test_env_example_secrets_are_blank_each_with_how_to_make_one():
    """Issue 23, finding 5: .env.example carries no working secret (cp .env.example .env gave a
    service anyone who read the repository could sign for)."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    secrets = {
        "POS_API_TOKEN",
        "PAR_SHARED_ID",
        "PAR_JWT_SECRET",
        "FLOWER_BASIC_AUTH",
        "REDIS_PASSWORD",
        "POSTGRES_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
    }
    assert set(values) == secrets and set(values.values()) == {""}
    for name in secrets:
        assert lines[lines.index(f"{name}=") - 1].startswith("# Make or find one: "), name
    assert "REDIS_URL" not in values and "POS_BASE_URL" not in values  # compose requires them set by you
