"""The one place Redis clients and the broker's address are made.

Two ways to reach the primary:
- REDIS_URL alone: one endpoint (a single redis-server, or a managed service that fails over
  behind one name). After a failover the old connection answers `READONLY` (the node was
  demoted) or drops; the client disconnects and retries on a fresh connection, which reaches
  whatever the endpoint now names.
- REDIS_SENTINELS (+ REDIS_SENTINEL_MASTER): the Sentinels are asked for the current primary.
  redis-py's SentinelManagedConnection turns a demoted primary's `READONLY` into a
  ConnectionError after dropping the connection, so the retry asks the Sentinels again.
  The broker uses kombu's `sentinel://` transport with `master_name` in its transport options.

Retries: only errors after which the command is known not to have run or could not be sent
(ConnectionError: refused, reset, no primary found; ReadOnlyError: refused by a replica).
TimeoutError is not retried: a write that timed out may have run, and the service's callers
(a request answered 503, a task retried by the engine) decide. Timeouts: a read waits
SOCKET_TIMEOUT (1 s; longer under DURABILITY=replica, for WAIT), a connect CONNECT_TIMEOUT, so a
frozen Redis is a 503 within ~1.5 s on every path PAR or on-call waits on (operations.md,
"Observability"); the worker's reads wait WORKER_SOCKET_TIMEOUT (5 s), through a slow link. While no primary exists the
error reaches app/errors.py, which answers 503 with Retry-After.
"""

from __future__ import annotations

import select
from typing import Any
from urllib.parse import quote, unquote, urlparse

import redis
from redis._parsers import _HiredisParser
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.connection import SENTINEL, Connection, SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, ResponseError
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection
from redis.utils import HIREDIS_AVAILABLE

from app.settings import Settings

try:  # gevent's saved original of select.poll: the operating system's, which never yields to the hub
    from gevent.monkey import get_original

    _os_poll = get_original("select", "poll")
except ImportError:  # no gevent: select.poll is the OS's
    _os_poll = select.poll

SOCKET_TIMEOUT = 1.0  # a frozen Redis (SIGSTOP, packets dropped) is a TimeoutError within a second: the
CONNECT_TIMEOUT = 0.5  # request answers 503 within ~1.5 s (operations.md); a command of ours takes ms
WORKER_SOCKET_TIMEOUT = 5.0  # the worker's: nobody waits on a task, which works through a slow link
BROKER_SOCKET_TIMEOUT = 5.0  # kombu's: its workers block on BRPOP between messages
BROKER_CONNECT_TIMEOUT = 2.0
WAIT_MARGIN = 0.5
RETRIES = 4  # with the backoff below: ~0.1+0.2+0.4+0.8 s, plus jitter, before the error is raised
MAX_CONNECTIONS = 1000  # a gevent worker's tasks share one pool (redis-py#1147: a pool per greenlet
#                        is not needed; a pool that runs out raises instead of blocking)
SENTINEL_TIMEOUT = 1.0
DEMOTED = ("READONLY You can't write", "WAIT cannot be used with replica instances")  # a replica's refusals


def reply_text(value: object) -> str:
    """A Redis reply as text ('' for none)."""
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def reply_scored(rows: Any) -> list[tuple[str, float]]:
    """A sorted set's reply WITHSCORES as (member, score): redis-py types that reply loosely."""
    return [(reply_text(member), float(score)) for member, score in rows]


class HiredisParser(_HiredisParser):
    """The hiredis reply parser, with redis-py's pool-checkout probe kept off gevent's hub.

    Every command first checks the connection it takes from the pool (`can_read(0)`: a reply
    left over, or a connection the server closed) with `select.poll()`, which under gevent's
    monkey-patching is a switch to the hub and back for a check that cannot block (its cost:
    docs/BENCHMARKS.md). The common case, nothing buffered and nothing on the socket, is answered
    with the operating system's own `poll(0)`; any other case is redis-py's own check."""

    def can_read(self, timeout: float = 0) -> bool:
        sock, reader = self._sock, self._reader
        if (
            timeout == 0
            and sock is not None
            and reader is not None
            and not hasattr(sock, "pending")
            and not reader.has_data()
        ):
            poller = _os_poll()
            poller.register(sock, select.POLLIN)
            if not poller.poll(0):
                return False
        return super().can_read(timeout)


class ScriptReadOnlyAware(Connection):
    """A write inside a Lua script on a replica comes back (Redis 6.2) as `ERR Error running
    script ... -READONLY You can't write against a read only replica.`, which redis-py reads as
    a plain ResponseError: neither retried nor seen by SentinelManagedConnection. Raised here as
    ReadOnlyError, it is. A script stops at its first write on a replica, so none of it ran.
    So is a WAIT on a replica (`WAIT cannot be used with replica instances`): the pipeline's
    script before it found nothing to write (a resubmit), and the node is a demoted primary."""

    def read_response(self, *args, **kwargs):
        try:
            return super().read_response(*args, **kwargs)
        except ResponseError as exc:
            if not isinstance(exc, ReadOnlyError) and any(text in str(exc) for text in DEMOTED):
                raise ReadOnlyError(str(exc)) from exc
            raise


class ReadOnlyAwareConnection(ScriptReadOnlyAware, Connection):
    pass


class ReadOnlyAwareSSLConnection(ScriptReadOnlyAware, SSLConnection):
    pass


class ReadOnlyAwareSentinelConnection(SentinelManagedConnection, ScriptReadOnlyAware):
    """SentinelManagedConnection turns ReadOnlyError into a reconnect through the Sentinels.

    Its read_response defaults to disconnect_on_error=False (redis-py 8.1; a plain Connection's
    is True): a read that timed out left the connection open, the pool handed it out again, and
    the late reply answered the next command (after a web host's link came back: an integer where
    SCRIPT EXISTS or HMGET expected a list, a 500; or a reply of the right shape, taken for the
    wrong one). A connection whose read failed is closed, as everywhere else."""

    def read_response(
        self,
        disable_decoding=False,
        *,
        timeout=SENTINEL,
        disconnect_on_error: bool | None = True,
        push_request: bool | None = False,
    ):
        return super().read_response(
            disable_decoding, timeout=timeout, disconnect_on_error=disconnect_on_error, push_request=push_request
        )


def retry_policy(retries: int = RETRIES) -> Retry:
    return Retry(
        ExponentialWithJitterBackoff(base=0.1, cap=2.0), retries, supported_errors=(RedisConnectionError, ReadOnlyError)
    )


def read_timeout(settings: Settings, base: float = SOCKET_TIMEOUT) -> float:
    """DURABILITY=replica's WAIT holds the connection up to DURABILITY_TIMEOUT_MS: a read waits that
    long and a margin (a frozen Redis is then noticed that much later)."""
    if settings.durability == "replica":
        return max(base, settings.durability_timeout_ms / 1000 + WAIT_MARGIN)
    return base


def client_options(retries: int = RETRIES, socket_timeout: float = SOCKET_TIMEOUT) -> dict:
    """Maintenance notifications off. They are push messages of Redis Enterprise/Cloud (relaxed
    timeouts and reconnects around the provider's maintenance); Redis OSS and Sentinel never
    send them. redis-py 8 speaks RESP3 by default, and its default for them ("auto") turns off
    the pool's check that a connection it hands out holds no reply left over (a stale reply
    would answer the next command). Off, that check is back (tests/unit/app/test_redis_client_parser.py).
    The cost, on a managed Redis that sends them: its maintenance is seen as timeouts and drops,
    which the retries and the 503 with Retry-After already handle."""
    parser = {"parser_class": HiredisParser} if HIREDIS_AVAILABLE else {}  # HiredisParser above
    return {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "health_check_interval": 30,
        "max_connections": MAX_CONNECTIONS,
        "retry": retry_policy(retries),
        "retry_on_error": [RedisConnectionError, ReadOnlyError],
        "maint_notifications_config": MaintNotificationsConfig(enabled=False),
        **parser,
    }


def _url_parts(url: str) -> tuple[int, str | None, str | None]:
    """The database number, username and password a redis:// URL names."""
    parsed = urlparse(url)
    path = parsed.path.lstrip("/")
    db = int(path) if path.isdigit() else 0
    return (
        db,
        unquote(parsed.username) if parsed.username else None,
        unquote(parsed.password) if parsed.password else None,
    )


def make_sentinel(settings: Settings) -> Sentinel:
    """The Sentinels, each asked once for SENTINEL_TIMEOUT, then the next. redis-py gives the
    Sentinels' own connections the socket_* options only when sentinel_kwargs is None: given (for
    auth), it must name them, and a retry of none (redis-py 8 retries a timeout ten times, 5 s each:
    a Sentinel whose host is gone held every new connection for a minute, the cluster run's web
    requests past PAR's timeout). discover_master asks the next Sentinel on a timeout; the pool's
    retries (retry_policy) ask them all again."""
    _, username, password = _url_parts(settings.redis_url)
    auth = {"password": password, "username": username} if password else {}
    return Sentinel(
        list(settings.sentinel_hosts),
        socket_timeout=SENTINEL_TIMEOUT,
        socket_connect_timeout=SENTINEL_TIMEOUT,
        sentinel_kwargs={
            "socket_timeout": SENTINEL_TIMEOUT,
            "socket_connect_timeout": SENTINEL_TIMEOUT,
            "retry": Retry(NoBackoff(), 0),
            **auth,
        },
    )


def make_client(
    settings: Settings,
    url: str | None = None,
    decode_responses: bool = False,
    retries: int = RETRIES,
    socket_timeout: float = SOCKET_TIMEOUT,
) -> redis.Redis:
    """The client for the order store and the menu cache (url: another Redis URL of the same
    deployment, such as the broker's; through the same Sentinels when they are set;
    socket_timeout: the worker's WORKER_SOCKET_TIMEOUT, else the web's and the CLI's)."""
    url = url or settings.redis_url
    timeout = read_timeout(settings, socket_timeout)
    if settings.sentinel_hosts:
        db, username, password = _url_parts(url)
        return make_sentinel(settings).master_for(
            settings.redis_sentinel_master,
            db=db,
            username=username,
            password=password,
            connection_class=ReadOnlyAwareSentinelConnection,
            decode_responses=decode_responses,
            **client_options(retries, timeout),
        )
    scheme = urlparse(url).scheme
    classes = {"redis": ReadOnlyAwareConnection, "rediss": ReadOnlyAwareSSLConnection}
    extra = {"connection_class": classes[scheme]} if scheme in classes else {}
    options = client_options(retries, timeout)
    return redis.Redis.from_url(url, decode_responses=decode_responses, **options, **extra)


BEAT_RETRY_SECONDS = 60
BEAT_RETRIES = 25  # ~35 s of backoff: beat waits out a failover (its lock's Lua calls bypass the wrapper)


def attach_beat_client(celery, settings: Settings) -> None:
    """celery-redbeat's client, made here: redbeat's own Sentinel support builds a plain
    master_for() on every call, which reads a Lua script's READONLY (its lock) as an error that
    stops beat. Preset on the app (redbeat uses `app.redbeat_redis` when it is there), wrapped
    in redbeat's RetryingConnection, with retries enough to wait out a failover: the lock's
    extend (a Lua call on the client itself) raising MasterNotFoundError stopped beat."""
    if not uses_sentinel(settings, settings.broker_url):
        return  # a plain URL: redbeat's own client (it skips a tick while Redis is away)
    from redbeat.schedulers import REDBEAT_REDIS_KEY, RetryingConnection

    client = make_client(settings, settings.broker_url, decode_responses=True, retries=BEAT_RETRIES)
    setattr(celery, REDBEAT_REDIS_KEY, RetryingConnection(BEAT_RETRY_SECONDS, client))


def _sentinel_url(settings: Settings, url: str) -> str:
    db, username, password = _url_parts(url)
    auth = f"{quote(username or '', safe='')}:{quote(password, safe='')}@" if password else ""
    return ";".join(f"sentinel://{auth}{host}:{port}/{db}" for host, port in settings.sentinel_hosts)


def uses_sentinel(settings: Settings, url: str | None) -> bool:
    return bool(settings.sentinel_hosts and url and urlparse(url).scheme in ("redis", "rediss"))


def broker_url(settings: Settings) -> str:
    """kombu's sentinel transport when Sentinels are set and the broker is Redis."""
    if uses_sentinel(settings, settings.broker_url):
        return _sentinel_url(settings, settings.broker_url)
    return settings.broker_url


def result_backend(settings: Settings) -> str | None:
    url = settings.result_backend
    if url is not None and uses_sentinel(settings, url):
        return _sentinel_url(settings, url)
    return url


def sentinel_options(settings: Settings) -> dict:
    """What kombu (broker) and Celery (result backend) need beside a sentinel:// URL."""
    if not settings.sentinel_hosts:
        return {}
    _, username, password = _url_parts(settings.redis_url)
    options: dict = {"master_name": settings.redis_sentinel_master}
    if password:
        options["sentinel_kwargs"] = {"password": password, "username": username}
    return options


def broker_transport_options(settings: Settings) -> dict:
    """Socket limits, a pool large enough for a gevent worker, and the Sentinel master's name."""
    options = {
        "socket_timeout": BROKER_SOCKET_TIMEOUT,
        "socket_connect_timeout": BROKER_CONNECT_TIMEOUT,
        "max_connections": MAX_CONNECTIONS,
    }
    if uses_sentinel(settings, settings.broker_url):
        options.update(sentinel_options(settings))
    return options
