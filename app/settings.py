"""Every environment variable posbridge reads: ONE table (name, default, parser, meaning).

The service's rows are `Settings`' attributes, each declared once with its type (`setting(...)`;
a misspelled or mistyped setting fails mypy), the processes' rows follow (PROCESS_VARIABLES);
VARIABLES is both, in order. The table makes `Settings` (`load_settings`) and, in app/settings_files.py,
`.env.example` (`posbridge config env-example`) and the README's configuration table
(`posbridge config readme-table`; tests/unit/app/test_settings_table.py checks both). No module
reads the environment but this one: process files ask `process_value(NAME)`.

A process that starts with missing or malformed variables stops with ONE message naming every
one of them (`ConfigError`). A secret may come from a file named by `<NAME>_FILE`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

from app.pos import ADAPTERS
from app.settings_parsers import (
    HS256_KEY_BYTES,
    PASSWORD_MIN,
    boolean,
    choice,
    host_ports,
    number,
    pairs,
    pem_public_key,
    port_or_off,
    secret,
    sentinels,
    text,
    url,
    user_password,
    whole,
)

REQUIRED = object()  # a default that says: the variable must be set


class ConfigError(Exception):
    """Settings are missing or malformed; the message names every variable (`.name`: the first)."""

    def __init__(self, name: str, problem: str, more: list[tuple[str, str]] | None = None):
        self.problems = [(name, problem), *list(more or [])]
        super().__init__("\n".join(f"configuration error: {n}: {p}" for n, p in self.problems))
        self.name = name


@dataclasses.dataclass(frozen=True)
class Var:
    name: str
    attr: str | None  # the Settings attribute; None: read by a process file through process_value()
    default: Any
    parse: Callable[[str], Any]
    meaning: str
    shown: str | None = None  # the default as documented, when `default` does not say it
    example: str | None = None  # an uncommented line for .env.example ("": a secret left blank, see `how`)
    how: str | None = None  # .env.example: how to make or where to find the value
    group: str = "service"  # service (app/), process (Procfile, gunicorn, flower), compose, dev (./dev serve)

    @property
    def documented_default(self) -> str:
        if self.shown is not None:
            return self.shown
        if self.default is REQUIRED:
            return "required"
        if self.default is None:
            return "(none)"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return str(self.default)


REDIS = ("redis", "rediss", "unix")
S, P, D = "service", "process", "dev"


def setting(name: str, default: Any, parse: Callable[[str], Any], meaning: str, **more: Any) -> Any:
    """A service variable of the table, declared as a Settings attribute (its name and type)."""
    return dataclasses.field(
        default=None if default is REQUIRED else default,
        metadata={"var": Var(name, None, default, parse, meaning, **more)},
    )


@dataclasses.dataclass(frozen=True)
class Settings:
    """The service's variables (the table's first part: one attribute each, typed), and what is
    computed from them. Made by load_settings; the declaration order is the table's."""

    redis_url: str = setting(
        "REDIS_URL",
        REQUIRED,
        url(*REDIS, password_min=PASSWORD_MIN),
        "order store and menu cache; also the broker unless CELERY_BROKER_URL",
        shown="required (`./dev serve`: embedded)",
    )
    broker_url: str = setting(
        "CELERY_BROKER_URL",
        None,
        url(*REDIS, "amqp", password_min=PASSWORD_MIN),
        "Celery broker override",
        shown="$REDIS_URL",
    )
    result_backend: str | None = setting(
        "CELERY_RESULT_BACKEND",
        None,
        url(*REDIS, password_min=PASSWORD_MIN),
        "Celery result backend; off: tasks carry ids and write to the order store",
    )
    redis_sentinels: str | None = setting(
        "REDIS_SENTINELS",
        None,
        sentinels,
        "host:port,host:port of Redis Sentinels; when "
        "set, store, menu cache and broker find the primary through them (`sentinel_hosts`: as pairs)",
    )
    redis_sentinel_master: str = setting("REDIS_SENTINEL_MASTER", "mymaster", text, "the Sentinel master's name")
    durability: str = setting(
        "DURABILITY",
        "fsync",
        choice("fsync", "replica", "none"),
        "how a state is made durable "
        "before it is answered: fsync (Redis appendfsync always), replica (WAIT for replicas; docs/ENGINE.md) or "
        "none (development and tests only)",
    )
    durability_replicas: int = setting("DURABILITY_REPLICAS", 1, whole(1), "replica: replicas that must acknowledge")
    durability_timeout_ms: int = setting("DURABILITY_TIMEOUT_MS", 1000, whole(1), "replica: how long to wait for them")
    pos_adapter: str = setting(
        "POS_ADAPTER",
        "rest",
        choice(*ADAPTERS),
        "which POS adapter: rest (pos-api.md) or square (Square's Orders API; POS_API_TOKEN is its access token)",
    )
    pos_base_url: str = setting(
        "POS_BASE_URL", REQUIRED, url("http", "https", strip_slash=True), "the POS the service calls"
    )
    pos_api_token: str = setting(
        "POS_API_TOKEN",
        REQUIRED,
        secret(),
        "bearer token for the POS",
        example="",
        how="the token the POS vendor issued for this service",
    )
    par_shared_id: str = setting(
        "PAR_SHARED_ID",
        REQUIRED,
        secret(10, key_chars=10),
        "PAR's SharedId; its first 10 characters key x-pch-digest",
        shown="required, >= 10 chars",
        example="",
        how="the SharedId PAR assigned to this integration",
    )
    jwt_secret: str | None = setting(
        "PAR_JWT_SECRET",
        None,
        secret(min_bytes=HS256_KEY_BYTES),
        "HS256 secret for PAR's JWT (or PAR_JWT_PUBLIC_KEY)",
        shown="one of the two required, >= 32 bytes",
        example="",
        how="the client secret PAR issued; for a stack of your own: "
        "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
    )
    jwt_public_key: str | None = setting(
        "PAR_JWT_PUBLIC_KEY",
        None,
        pem_public_key,
        "RS256 public key (PEM) for PAR's JWT, instead of the secret",
        shown="one of the two required",
    )
    jwt_issuer: str | None = setting("PAR_JWT_ISSUER", None, text, "expected `iss`", shown="(unchecked)")
    jwt_audience: str | None = setting("PAR_JWT_AUDIENCE", None, text, "expected `aud`", shown="(unchecked)")
    inline_budget_ms: int = setting("INLINE_BUDGET_MS", 2500, whole(), "how long submit may hold a request before 202")
    order_max_async_seconds: int = setting(
        "ORDER_MAX_ASYNC_SECONDS", 900, whole(), "how long an order without ttl is tried (and the cap with one)"
    )
    order_retention_days: int = setting("ORDER_RETENTION_DAYS", 30, whole(), "how long order records are kept")
    archive_url: str | None = setting(
        "ARCHIVE_URL",
        None,
        url("postgresql", "sqlite"),
        "where final orders go once they leave "
        "Redis: a PostgreSQL URI (postgresql://user:password@host:port/db) or sqlite:///path; unset: none (they "
        "stay in Redis for the retention)",
        shown="(none) (`./dev serve`: sqlite in var/)",
    )
    archive_after_seconds: int = setting(
        "ARCHIVE_AFTER_SECONDS", 172800, whole(), "how long a final order stays in Redis before it moves to the archive"
    )
    request_max_age_seconds: int = setting(
        "REQUEST_MAX_AGE_SECONDS",
        300,
        whole(),
        "how old a new order's request_datetime may be (60 s in the future at most)",
    )
    reconcile_seconds: int = setting(
        "RECONCILE_SECONDS",
        900,
        whole(0),
        "how long past its deadline an order whose outcome the POS cannot tell stays pending",
    )
    clock_skew_seconds: float = setting(
        "CLOCK_SKEW_SECONDS",
        1.0,
        number(allow_zero=True),
        "allowance between Redis's clock and the POS's when deciding after a deadline",
    )
    menu_refresh_seconds: int = setting(
        "MENU_REFRESH_SECONDS", 300, whole(), "how often beat refreshes cached menus (stale after twice that)"
    )
    max_content_length: int = setting("MAX_CONTENT_LENGTH", 262144, whole(1024), "largest accepted request body, bytes")
    flower_basic_auth: str | None = setting(
        "FLOWER_BASIC_AUTH",
        None,
        user_password,
        "user:password for Flower (a password of 16+ characters)",
        shown="(required by flower)",
        example="",
        how="oncall: and a password of your own, e.g. "
        "oncall:$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')",
    )
    callback_allow_private: bool = setting(
        "CALLBACK_ALLOW_PRIVATE", False, boolean, "allow callbacks to loopback/private addresses (development, tests)"
    )
    port: int = setting("PORT", 8000, whole(1, 65535), "the web port")
    future_horizon_days: int = setting(
        "FUTURE_HORIZON_DAYS", 7, whole(), "how far ahead a future order may be promised"
    )
    pos_connect_timeout: float = setting("POS_CONNECT_TIMEOUT", 2.0, number(), "seconds to connect to the POS")
    pos_read_timeout: float = setting("POS_READ_TIMEOUT", 10.0, number(), "seconds to wait for a POS answer")
    sweep_seconds: int = setting(
        "SWEEP_SECONDS", 2, whole(), "how often beat's sweep hands due moves in the schedule to workers, seconds"
    )
    callback_max_attempts: int = setting(
        "CALLBACK_MAX_ATTEMPTS", 8, whole(), "callback deliveries before it is kept for replay"
    )
    callback_timeout_seconds: float = setting(
        "CALLBACK_TIMEOUT_SECONDS", 10.0, number(), "the whole of one callback delivery: resolve, connect, send, read"
    )
    callback_backoff_base_seconds: float = setting(
        "CALLBACK_BACKOFF_BASE_SECONDS", 2.0, number(), "first backoff of a failed callback delivery"
    )
    callback_backoff_cap_seconds: float = setting(
        "CALLBACK_BACKOFF_CAP_SECONDS", 300.0, number(), "longest backoff between callback deliveries"
    )
    retry_base_seconds: float = setting("RETRY_BASE_SECONDS", 0.5, number(), "first backoff of a transient POS failure")
    retry_cap_seconds: float = setting("RETRY_CAP_SECONDS", 30.0, number(), "longest backoff between POS attempts")
    pos_ca_bundle: str | None = setting(
        "POS_CA_BUNDLE", None, text, "CA bundle for the POS's TLS certificate", shown="system"
    )
    square_version: str = setting(
        "SQUARE_VERSION",
        "2025-05-21",
        text,
        "square: the Square-Version header (the API version the adapter was written against)",
    )
    square_location_map: dict[str, str] | None = setting(
        "SQUARE_LOCATION_MAP",
        None,
        pairs,
        "square: par_location_id=square_location_id,"
        "... (unlisted ids are Square's own; when set, lookups search only these locations)",
        shown="(none: ids as they are)",
    )
    square_search_window_seconds: int = setting(
        "SQUARE_SEARCH_WINDOW_SECONDS",
        86400,
        whole(60),
        "square: how far back a lookup searches orders by creation time",
    )
    square_currency: str = setting("SQUARE_CURRENCY", "USD", text, "square: the currency of the orders' amounts")
    otel_endpoint: str | None = setting(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        None,
        url("http", "https", strip_slash=True),
        "OpenTelemetry traces to this OTLP/HTTP collector (spans to its /v1/traces); off when unset (the SDK's "
        "other OTEL_EXPORTER_OTLP_* variables apply)",
        shown="(none: traces off)",
    )
    otel_service_name: str = setting("OTEL_SERVICE_NAME", "posbridge", text, "the traces' service.name")
    traces_file: str | None = setting(
        "POSBRIDGE_TRACES_FILE",
        None,
        text,
        "traces also written to this file, one JSON span per line (tests, local debugging); turns traces on",
        shown="(none)",
    )

    @functools.cached_property
    def digest_key(self) -> bytes:  # once per process, not per signed answer
        return self.par_shared_id[:10].encode("utf-8")

    @property
    def dispatch_grace(self) -> float:
        """How long after sending a due move's task the sweep waits before sending it again
        (the task was lost, or waits in a queue longer than this; a duplicate only finds the
        move claimed or not due)."""
        return max(3.0, 5.0 * self.sweep_seconds)

    @property
    def sentinel_hosts(self) -> tuple[tuple[str, int], ...]:
        """REDIS_SENTINELS as (host, port) pairs; () when unset."""
        return host_ports(self.redis_sentinels) if self.redis_sentinels else ()


PROCESS_VARIABLES: tuple[Var, ...] = (
    # the processes: read by gunicorn.conf.py, workers/flower.py, app/console/, app/metrics.py, the Procfile
    Var("WEB_BIND", None, "0.0.0.0", text, "gunicorn's bind address", group=P),
    Var("WEB_CONCURRENCY", None, 2, whole(), "gunicorn worker processes", group=P),
    Var(
        "WEB_WORKER_CLASS",
        None,
        "gevent",
        choice("gevent", "gthread", "sync"),
        "gunicorn worker class (gevent: see the README)",
        group=P,
    ),
    Var("WEB_WORKER_CONNECTIONS", None, 1000, whole(), "connections per gevent worker", group=P),
    Var("WEB_THREADS", None, 16, whole(), "threads per gthread worker", group=P),
    Var("WEB_GRACEFUL_TIMEOUT", None, 30, whole(), "seconds a stopping web worker lets requests finish", group=P),
    Var(
        "WEB_CONTROL_SOCKET",
        None,
        None,
        text,
        "gunicorn's control socket path (off when unset: two gunicorns on a host would share ~/.gunicorn/gunicorn.ctl)",
        shown="off",
        group=P,
    ),
    Var(
        "PROMETHEUS_MULTIPROC_DIR",
        None,
        None,
        text,
        "where gunicorn's workers keep the counters /metrics adds up",
        shown="a fresh temporary directory",
        group=P,
    ),
    Var("WORKER_CONCURRENCY", None, 100, whole(), "green threads per Celery worker process", group=P),
    Var("WORKER_NAME", None, "1", text, "the worker's node name suffix (worker-<host>-<name>)", group=P),
    Var(
        "WORKER_METRICS_PORT",
        None,
        None,
        port_or_off,
        "port of the worker's own /metrics (off: none)",
        shown="off",
        group=P,
    ),
    Var("WORKER_METRICS_ADDRESS", None, "0.0.0.0", text, "address of the worker's own /metrics", group=P),
    Var("FLOWER_PORT", None, 5555, whole(1, 65535), "where Flower listens", group=P),
    Var("FLOWER_ADDRESS", None, "127.0.0.1", text, "Flower's address", group=P),
    Var(
        "CONSOLE_PORT",
        None,
        5556,
        whole(1, 65535),
        "where the order console listens (its login: FLOWER_BASIC_AUTH)",
        group=P,
    ),
    Var("CONSOLE_ADDRESS", None, "127.0.0.1", text, "the order console's address", group=P),
    Var("POSSIM_HOST", None, "127.0.0.1", text, "the POS simulator's address", group=P),
    Var("POSSIM_PORT", None, 9100, whole(1, 65535), "the POS simulator's port", group=P),
    Var(
        "REDIS_PASSWORD",
        None,
        None,
        secret(PASSWORD_MIN),
        "docker compose: the password its Redis requires (REDIS_URL carries it; 16+ characters)",
        shown="required by compose",
        example="",
        group="compose",
        how="python3 -c 'import secrets; print(secrets.token_urlsafe(24))'",
    ),
    Var(
        "POSTGRES_PASSWORD",
        None,
        None,
        secret(PASSWORD_MIN),
        "docker compose: the password of its PostgreSQL, the archive (ARCHIVE_URL carries it; 16+ characters)",
        shown="required by compose",
        example="",
        group="compose",
        how="python3 -c 'import secrets; print(secrets.token_urlsafe(24))'",
    ),
    Var(
        "GRAFANA_ADMIN_PASSWORD",
        None,
        None,
        secret(PASSWORD_MIN),
        "docker compose --profile observability: Grafana's admin password (16+ characters)",
        shown="required by that profile",
        example="",
        group="compose",
        how="python3 -c 'import secrets; print(secrets.token_urlsafe(18))'",
    ),
    Var("POSBRIDGE_VAR_DIR", None, "var", text, "./dev serve: its logs, the embedded Redis's AOF", group=D),
    Var("REDIS_PORT", None, 6380, whole(1, 65535), "./dev serve: the embedded Redis's port", group=D),
)
# the table: every service variable (a Settings attribute), then those the processes read
VARIABLES: tuple[Var, ...] = (
    *(dataclasses.replace(field.metadata["var"], attr=field.name) for field in dataclasses.fields(Settings)),
    *PROCESS_VARIABLES,
)
BY_NAME = {var.name: var for var in VARIABLES}
# name -> (documented default, meaning): the README and .env.example are checked against this
DOCUMENTED = {var.name: (None if var.default is REQUIRED else var.documented_default, var.meaning) for var in VARIABLES}


def read_value(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value, or the contents of the file `<name>_FILE` names."""
    value = env.get(name)
    path = env.get(f"{name}_FILE")
    if value in (None, "") and path:
        try:
            with open(path, encoding="utf-8") as fh:
                value = fh.read().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE", f"cannot read {path!r}: {exc.strerror}") from None
    return value if value not in (None, "") else None


def _parse(var: Var, env: Mapping[str, str]) -> Any:
    raw = read_value(env, var.name)
    if raw is None:
        if var.default is REQUIRED:
            raise ConfigError(var.name, "is required and not set")
        return var.default
    try:
        return var.parse(raw)
    except ValueError as exc:
        raise ConfigError(var.name, str(exc)) from None


def process_value(name: str, env: Mapping[str, str] | None = None) -> Any:
    """One variable of the table, parsed (for the process files, which need no full settings)."""
    return _parse(BY_NAME[name], os.environ if env is None else env)


def environment() -> Mapping[str, str]:
    """This process's environment, for code that hands it on (bin/stack.py starts the processes)."""
    return os.environ


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Every service variable read and checked; ConfigError naming all the bad ones at once."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for var in VARIABLES:
        if var.attr is None:
            continue
        try:
            values[var.attr] = _parse(var, env)
        except ConfigError as exc:
            problems += exc.problems
    jwt_named = any(name in ("PAR_JWT_SECRET", "PAR_JWT_PUBLIC_KEY") for name, _ in problems)
    if not jwt_named and not (values.get("jwt_secret") or values.get("jwt_public_key")):
        problems.append(("PAR_JWT_SECRET", "one of PAR_JWT_SECRET or PAR_JWT_PUBLIC_KEY is required"))
    if problems:
        raise ConfigError(problems[0][0], problems[0][1], problems[1:])
    values["broker_url"] = values["broker_url"] or values["redis_url"]
    return Settings(**values)
