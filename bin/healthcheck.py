"""Container health checks (docker-compose.yml, Dockerfile): `python -m bin.healthcheck web|beat|flower|console|possim`.

web: /healthz answers; flower: its /healthcheck answers (with the basic auth it is behind); console:
its front page answers (with the same login);
possim: its admin stats answer; beat: Redis answers and a beat holds redbeat's lock or has
written its schedule there (redbeat's `<prefix>:lock`, `<prefix>:schedule`, as app.celery_config sets them).
Exit 0 when healthy, 1 with one line otherwise.
"""

from __future__ import annotations

import base64
import sys
import urllib.request

from app.settings import ConfigError, environment, process_value, read_value


def _get(url: str, headers: dict[str, str] | None = None) -> None:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback, our own ports
    with urllib.request.urlopen(request, timeout=3) as response:  # noqa: S310
        if response.status >= 400:
            raise OSError(f"HTTP {response.status}")


def check(kind: str) -> None:
    env = environment()
    if kind == "web":
        _get(f"http://127.0.0.1:{process_value('PORT')}/healthz")
    elif kind == "flower":
        auth = base64.b64encode((read_value(env, "FLOWER_BASIC_AUTH") or "").encode()).decode()
        _get(f"http://127.0.0.1:{process_value('FLOWER_PORT')}/healthcheck", {"Authorization": f"Basic {auth}"})
    elif kind == "console":
        auth = base64.b64encode((read_value(env, "FLOWER_BASIC_AUTH") or "").encode()).decode()
        _get(f"http://127.0.0.1:{process_value('CONSOLE_PORT')}/", {"Authorization": f"Basic {auth}"})
    elif kind == "possim":
        _get(
            f"http://127.0.0.1:{process_value('POSSIM_PORT')}/_admin/stats",
            {"Authorization": f"Bearer {read_value(env, 'POS_API_TOKEN') or ''}"},
        )
    elif kind == "beat":
        from app import celery_config
        from app import redis_client as clients
        from app.settings import load_settings

        settings = load_settings(env)
        config = celery_config(settings)
        prefix = config.get("redbeat_key_prefix", "redbeat:")  # redbeat's keys: <prefix>:lock, <prefix>:schedule
        # as beat reaches it: through the Sentinels when they are set (Kubernetes)
        client = clients.make_client(settings, config["redbeat_redis_url"], retries=0)
        client.ping()
        if not client.exists(f"{prefix}:lock", f"{prefix}:schedule"):
            raise OSError("no beat has written its schedule or holds its lock")
    else:
        raise SystemExit(f"usage: python -m bin.healthcheck web|beat|flower|console|possim (not {kind!r})")


if __name__ == "__main__":
    try:
        check(sys.argv[1] if len(sys.argv) > 1 else "")
    except (OSError, ConfigError, Exception) as exc:  # noqa: BLE001 - any failure is "unhealthy"
        sys.exit(f"unhealthy: {type(exc).__name__}: {exc}")
