"""Every environment variable the service reads, read and checked once.

A process that starts with a missing or malformed required variable stops with a
message naming it (`ConfigError`). Secrets may come from a file named by `<NAME>_FILE`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""

    def __init__(self, name: str, problem: str):
        super().__init__(f"configuration error: {name}: {problem}")
        self.name = name


@dataclass(frozen=True)
class Settings:
    redis_url: str
    broker_url: str
    result_backend: str | None
    pos_base_url: str
    pos_api_token: str
    par_shared_id: str
    jwt_secret: str | None
    jwt_public_key: str | None
    jwt_issuer: str | None
    jwt_audience: str | None
    inline_budget_ms: int = 2500
    order_max_async_seconds: int = 900
    order_retention_days: int = 30
    menu_refresh_seconds: int = 300
    max_content_length: int = 256 * 1024
    flower_basic_auth: str | None = None
    callback_allow_private: bool = False
    port: int = 8000
    future_horizon_days: int = 7
    pos_connect_timeout: float = 2.0
    pos_read_timeout: float = 10.0
    sweep_seconds: int = 2
    callback_max_attempts: int = 8
    retry_base_seconds: float = 0.5
    retry_cap_seconds: float = 30.0
    request_max_age_seconds: int = 300
    reconcile_seconds: int = 900
    redis_sentinels: str | None = None
    redis_sentinel_master: str = "mymaster"
    durability: str = "fsync"
    durability_replicas: int = 1
    durability_timeout_ms: int = 1000
    pos_adapter: str = "rest"
    clock_skew_seconds: float = 1.0
    pos_ca_bundle: str | None = None

    @property
    def digest_key(self) -> bytes:
        return self.par_shared_id[:10].encode("utf-8")

    @property
    def dispatch_grace(self) -> float:
        """How long after sending a due move's task the sweep waits before sending it again
        (the task was lost, or waits in a queue longer than this; a duplicate only finds the
        move claimed or not due)."""
        return max(3.0, 5.0 * self.sweep_seconds)


# name -> (default, meaning); the README's table is checked against this one by a test.
DOCUMENTED = {
    "REDIS_URL": (None, "order store and menu cache; also the broker unless CELERY_BROKER_URL"),
    "CELERY_BROKER_URL": ("$REDIS_URL", "Celery broker override"),
    "CELERY_RESULT_BACKEND": ("(none)", "Celery result backend; off by default (ids only)"),
    "POS_BASE_URL": (None, "the POS the service calls"),
    "POS_API_TOKEN": (None, "bearer token for the POS"),
    "PAR_SHARED_ID": (None, "PAR's SharedId; its first 10 characters key x-pch-digest"),
    "PAR_JWT_SECRET": (None, "HS256 secret for PAR's JWT (or PAR_JWT_PUBLIC_KEY)"),
    "PAR_JWT_PUBLIC_KEY": (None, "RS256 public key (PEM) for PAR's JWT, instead of the secret"),
    "PAR_JWT_ISSUER": ("(unchecked)", "expected `iss`"),
    "PAR_JWT_AUDIENCE": ("(unchecked)", "expected `aud`"),
    "INLINE_BUDGET_MS": ("2500", "how long submit may hold a request before 202"),
    "ORDER_MAX_ASYNC_SECONDS": ("900", "how long an order without ttl is tried"),
    "ORDER_RETENTION_DAYS": ("30", "how long order records are kept"),
    "MENU_REFRESH_SECONDS": ("300", "how often beat refreshes cached menus"),
    "MAX_CONTENT_LENGTH": ("262144", "largest accepted request body, bytes"),
    "FLOWER_BASIC_AUTH": ("(required by flower)", "user:password for Flower"),
    "CALLBACK_ALLOW_PRIVATE": ("false", "allow callbacks to loopback/private addresses"),
    "PORT": ("8000", "the web port"),
    "FUTURE_HORIZON_DAYS": ("7", "how far ahead a future order may be promised"),
    "POS_CONNECT_TIMEOUT": ("2.0", "seconds to connect to the POS"),
    "POS_READ_TIMEOUT": ("10.0", "seconds to wait for a POS answer"),
    "SWEEP_SECONDS": ("2", "how often beat's sweep hands due moves in the schedule to workers"),
    "CALLBACK_MAX_ATTEMPTS": ("8", "callback deliveries before it is kept for replay"),
    "RETRY_BASE_SECONDS": ("0.5", "first backoff of a transient POS failure"),
    "RETRY_CAP_SECONDS": ("30", "longest backoff between POS attempts"),
    "REQUEST_MAX_AGE_SECONDS": ("300", "how old a new order's request_datetime may be"),
    "RECONCILE_SECONDS": ("900", "how long past its deadline an order the POS cannot tell about stays pending"),
    "REDIS_SENTINELS": ("(unset)", "host:port,host:port of Redis Sentinels; the store, cache and broker follow them"),
    "REDIS_SENTINEL_MASTER": ("mymaster", "the master's name at the Sentinels"),
    "DURABILITY": ("fsync", "how a final state is made durable before it is answered: fsync or replica"),
    "DURABILITY_REPLICAS": ("1", "replica acknowledgements a final state waits for (DURABILITY=replica)"),
    "DURABILITY_TIMEOUT_MS": ("1000", "how long a final state waits for them"),
    "POS_ADAPTER": ("rest", "which POS adapter the service uses"),
    "CLOCK_SKEW_SECONDS": ("1.0", "allowance between Redis's clock and the POS's when deciding after a deadline"),
    "POS_CA_BUNDLE": ("(system)", "CA bundle for the POS's TLS certificate"),
}


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


def _required(env, name):
    value = read_value(env, name)
    if value is None:
        raise ConfigError(name, "is required and not set")
    return value


def _int(env, name, default, minimum=1):
    value = read_value(env, name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(name, f"must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ConfigError(name, f"must be at least {minimum}, got {number}")
    return number


def _float(env, name, default):
    value = read_value(env, name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(name, f"must be a number, got {value!r}") from None
    if not 0 < number < float("inf"):
        raise ConfigError(name, f"must be a finite number greater than 0, got {value!r}")
    return number


def _bool(env, name):
    value = (read_value(env, name) or "false").lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"must be true or false, got {value!r}")


def _choice(env, name, choices, default):
    value = (read_value(env, name) or default).lower()
    if value not in choices:
        raise ConfigError(name, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _url(env, name, schemes, required=True):
    value = _required(env, name) if required else read_value(env, name)
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
        raise ConfigError(name, f"must be a {'/'.join(schemes)} URL")
    return value


REDIS_SCHEMES = ("redis", "rediss", "unix")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    redis_url = _url(env, "REDIS_URL", REDIS_SCHEMES)
    shared_id = _required(env, "PAR_SHARED_ID")
    if len(shared_id) < 10:
        raise ConfigError("PAR_SHARED_ID", "must be at least 10 characters (the digest key)")
    jwt_secret = read_value(env, "PAR_JWT_SECRET")
    jwt_public_key = read_value(env, "PAR_JWT_PUBLIC_KEY")
    if not (jwt_secret or jwt_public_key):
        raise ConfigError("PAR_JWT_SECRET", "one of PAR_JWT_SECRET or PAR_JWT_PUBLIC_KEY is required")
    if jwt_public_key and "BEGIN PUBLIC KEY" not in jwt_public_key:
        raise ConfigError("PAR_JWT_PUBLIC_KEY", "must be a PEM public key")
    flower_auth = read_value(env, "FLOWER_BASIC_AUTH")
    if flower_auth is not None and ":" not in flower_auth:
        raise ConfigError("FLOWER_BASIC_AUTH", "must be user:password")
    settings = Settings(
        redis_url=redis_url,
        broker_url=_url(env, "CELERY_BROKER_URL", REDIS_SCHEMES + ("amqp",), False) or redis_url,
        result_backend=_url(env, "CELERY_RESULT_BACKEND", REDIS_SCHEMES, False),
        pos_base_url=_url(env, "POS_BASE_URL", ("http", "https")).rstrip("/"),
        pos_api_token=_required(env, "POS_API_TOKEN"),
        par_shared_id=shared_id,
        jwt_secret=jwt_secret,
        jwt_public_key=jwt_public_key,
        jwt_issuer=read_value(env, "PAR_JWT_ISSUER"),
        jwt_audience=read_value(env, "PAR_JWT_AUDIENCE"),
        inline_budget_ms=_int(env, "INLINE_BUDGET_MS", 2500),
        order_max_async_seconds=_int(env, "ORDER_MAX_ASYNC_SECONDS", 900),
        order_retention_days=_int(env, "ORDER_RETENTION_DAYS", 30),
        menu_refresh_seconds=_int(env, "MENU_REFRESH_SECONDS", 300),
        max_content_length=_int(env, "MAX_CONTENT_LENGTH", 256 * 1024, minimum=1024),
        flower_basic_auth=flower_auth,
        callback_allow_private=_bool(env, "CALLBACK_ALLOW_PRIVATE"),
        port=_int(env, "PORT", 8000),
        future_horizon_days=_int(env, "FUTURE_HORIZON_DAYS", 7),
        pos_connect_timeout=_float(env, "POS_CONNECT_TIMEOUT", 2.0),
        pos_read_timeout=_float(env, "POS_READ_TIMEOUT", 10.0),
        sweep_seconds=_int(env, "SWEEP_SECONDS", 2),
        callback_max_attempts=_int(env, "CALLBACK_MAX_ATTEMPTS", 8),
        retry_base_seconds=_float(env, "RETRY_BASE_SECONDS", 0.5),
        retry_cap_seconds=_float(env, "RETRY_CAP_SECONDS", 30.0),
        request_max_age_seconds=_int(env, "REQUEST_MAX_AGE_SECONDS", 300),
        reconcile_seconds=_int(env, "RECONCILE_SECONDS", 900, minimum=0),
        redis_sentinels=read_value(env, "REDIS_SENTINELS"),
        redis_sentinel_master=read_value(env, "REDIS_SENTINEL_MASTER") or "mymaster",
        durability=_choice(env, "DURABILITY", ("fsync", "replica"), "fsync"),
        durability_replicas=_int(env, "DURABILITY_REPLICAS", 1),
        durability_timeout_ms=_int(env, "DURABILITY_TIMEOUT_MS", 1000),
        pos_adapter=_choice(env, "POS_ADAPTER", ("rest",), "rest"),
        clock_skew_seconds=_float(env, "CLOCK_SKEW_SECONDS", 1.0),
        pos_ca_bundle=read_value(env, "POS_CA_BUNDLE"),
    )
    if settings.port > 65535:
        raise ConfigError("PORT", "must be at most 65535")
    return settings
