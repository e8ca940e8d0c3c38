"""One JSON object per log line, on web and worker alike, each with its request_uid."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time

_request_uid: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_uid", default=None)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
SECRET_WORDS = ("secret", "token", "password", "authorization", "shared_id", "digest")


def bind_request_uid(uid: str | None) -> None:
    _request_uid.set(uid)


class JsonFormatter(logging.Formatter):
    def __init__(self, process_kind: str = "web"):
        super().__init__()
        self.process_kind = process_kind

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "process": self.process_kind,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = "[redacted]" if any(word in key.lower() for word in SECRET_WORDS) else value
        if "request_uid" not in entry and _request_uid.get():
            entry["request_uid"] = _request_uid.get()
        if record.exc_info:
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(process_kind: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(process_kind))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
