"""One JSON object per log line, on web and worker alike, each with its request_uid.

`configure(kind)` puts the JSON formatter on the root logger (gunicorn.conf.py does the same
for gunicorn's own loggers). The request_uid comes from, in order: the record's `extra`, the
one bound to the current request or task (`bind_request_uid`; the worker binds it from the
task's argument before the task runs), or, for Celery's own "received"/"succeeded" lines of an
order or callback task, the task's argument. Secret values from the environment are replaced
by "[redacted]" wherever they would appear, and so is any field whose name says it is secret.
"""

from __future__ import annotations

import ast
import contextvars
import json
import logging
import os
import sys
import time

from app import tracing
from app.settings import ConfigError, environment, read_value

_request_uid: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_uid", default=None)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
SECRET_WORDS = ("secret", "token", "password", "authorization", "shared_id", "digest")
SECRET_VARIABLES = ("PAR_JWT_SECRET", "PAR_SHARED_ID", "POS_API_TOKEN", "FLOWER_BASIC_AUTH")
UID_TASKS = ("workers.orders.", "workers.callbacks.")  # their only argument is the request_uid


def bind_request_uid(uid: str | None) -> None:
    _request_uid.set(uid)
    if tracing.enabled:
        tracing.tag_request_uid(uid)


def secret_values(env=None) -> list[str]:
    """The secrets this process knows (and PAR_SHARED_ID's first 10 characters, the digest key)."""
    env = environment() if env is None else env
    found = []
    for name in SECRET_VARIABLES:
        try:
            value = read_value(env, name)
        except ConfigError:  # an unreadable *_FILE: the settings check stops the process and names it
            value = None
        if not value:
            continue
        found.append(value)
        if name == "PAR_SHARED_ID":
            found.append(value[:10])
        if name == "FLOWER_BASIC_AUTH" and ":" in value:
            found.append(value.split(":", 1)[1])
    return sorted({v for v in found if len(v) >= 6}, key=len, reverse=True)


def task_uid(data) -> str | None:
    """The request_uid of a Celery log record's task (its `data`), for order and callback tasks."""
    if not isinstance(data, dict) or not str(data.get("name", "")).startswith(UID_TASKS):
        return None
    try:
        args = ast.literal_eval(data.get("args") or "()")
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if isinstance(args, (list, tuple)) and args and isinstance(args[0], str):
        return args[0]
    return None


def _secret_field(name: str, known: dict[str, bool] = {}) -> bool:  # noqa: B006 - the cache, on purpose
    """Whether a field's name says it is secret (remembered: a process logs a few dozen names)."""
    secret = known.get(name)
    if secret is None:
        secret = any(word in name.lower() for word in SECRET_WORDS)
        if len(known) < 4096:
            known[name] = secret
    return secret


class JsonFormatter(logging.Formatter):
    def __init__(self, process_kind: str = "web", secrets: list[str] | None = None):
        super().__init__()
        self.process_kind = process_kind
        self.secrets = list(secret_values() if secrets is None else secrets)
        self.secrets += [json.dumps(s)[1:-1] for s in self.secrets if json.dumps(s)[1:-1] != s]
        self._second = (-1, "")  # the last second formatted, and its text

    def _ts(self, created: float, msecs: float) -> str:
        second = int(created)
        if second != self._second[0]:
            self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return f"{self._second[1]}.{int(msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str | None] = {
            "ts": self._ts(record.created, record.msecs),
            "level": record.levelname.lower(),
            "logger": record.name,
            "process": self.process_kind,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = "[redacted]" if _secret_field(key) else value
        if "request_uid" not in entry:
            uid = _request_uid.get() or task_uid(entry.get("data"))
            if uid:
                entry["request_uid"] = uid
        if tracing.enabled:  # the line's trace, to go from a log line to its trace
            trace_id = tracing.current_trace_id()
            if trace_id:
                entry["trace_id"] = trace_id
        if record.exc_info:
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            entry["exc"] = self.formatException(record.exc_info)
        line = json.dumps(entry, default=str)
        for secret in self.secrets:
            line = line.replace(secret, "[redacted]")
        return line


def process_kind(kind: str, argv: list[str] | None = None) -> str:
    """web, cli, worker, beat or flower: what this process is, for the `process` field."""
    argv = sys.argv if argv is None else argv
    if kind == "worker":
        return next((role for role in ("beat", "flower", "inspect") if role in argv[1:]), "worker")
    if kind == "web" and argv and os.path.basename(argv[0]) in ("flask", "posbridge"):
        return "cli"
    return kind


def _bind_task(sender=None, args=None, **_kwargs) -> None:
    """Before a task runs: its request_uid (order and callback tasks), or none."""
    name = getattr(sender, "name", "") or ""
    uid = args[0] if name.startswith(UID_TASKS) and args and isinstance(args[0], str) else None
    bind_request_uid(uid)


def configure(process_kind_name: str, level: str = "INFO") -> None:
    kind = process_kind(process_kind_name)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(kind))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    # No line carries the caller's file and line, the thread or the process id (the formatter
    # writes none of them): the logging module's documented switches skip finding them per record.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    for noisy in ("urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if kind == "worker":
        from celery.signals import task_prerun

        task_prerun.connect(_bind_task, weak=False)
