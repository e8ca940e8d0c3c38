"""The CLI's group: infrastructure trouble anywhere below it is one line on stderr and an exit
code (2 configuration, 3 Redis or broker, 4 POS, 5 archive), never a traceback; a reader that
stopped early (`| head -1`) is not an error."""

from __future__ import annotations

import click

from app.cli.output import Trouble
from app.settings import ConfigError

EXIT_CONFIG, EXIT_REDIS, EXIT_POS, EXIT_ARCHIVE = 2, 3, 4, 5


def _trouble_from(exc: BaseException) -> Trouble | None:
    """The one line an operator needs for an infrastructure failure, or None (a real bug)."""
    import kombu.exceptions
    import redis.exceptions

    from app.archive import ArchiveUnavailable
    from app.menus import MenuUnavailable
    from app.pos.base import PosUnavailable

    if isinstance(exc, ConfigError):
        return Trouble(str(exc), EXIT_CONFIG)
    if isinstance(exc, redis.exceptions.RedisError):
        return Trouble(f"Redis trouble: {type(exc).__name__}: {exc}", EXIT_REDIS)
    if isinstance(exc, (kombu.exceptions.OperationalError, ConnectionError, TimeoutError)):
        return Trouble(f"broker trouble: {type(exc).__name__}: {exc}", EXIT_REDIS)
    if isinstance(exc, ArchiveUnavailable):
        return Trouble(f"archive trouble: {exc}", EXIT_ARCHIVE)
    if isinstance(exc, (PosUnavailable, MenuUnavailable)):
        return Trouble(f"POS trouble: {exc}", EXIT_POS)
    return None


class PosbridgeGroup(click.Group):
    """Turns infrastructure trouble anywhere below into one line and an exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except BrokenPipeError:
            if not stdout_closed():
                raise Trouble("broker trouble: BrokenPipeError", EXIT_REDIS) from None
            quiet_exit()
        except Exception as exc:  # noqa: BLE001 - classified below; anything else is re-raised
            trouble = _trouble_from(exc)
            if trouble is None:
                raise
            raise trouble from None


def stdout_closed() -> bool:
    """Whether stdout's reader is gone (`| head -1` has read its line): poll says POLLERR."""
    import select
    import sys

    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poll.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def quiet_exit() -> None:
    """A reader that stopped early is not an error: exit 0, and send what is still buffered to
    /dev/null so the interpreter's last flush does not complain either."""
    import os
    import sys

    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise SystemExit(0)
