"""gunicorn's own error answers as JSON in the order envelope, not HTML.

gunicorn answers a request it cannot parse (a bad request line, too long a line, too many or too
large headers, a bad chunk) itself, before the app sees it, through gunicorn.util.write_error.
`install()` (called in each worker by gunicorn.conf.py's post_worker_init) replaces that writer
with one that sends the same status as `{"status": "errored", "errors": [{code, message}]}`,
never echoing the client's bytes. gunicorn's limits are set above the app's (app/body.py), so
a request within them reaches the app and gets the app's own JSON 414/431.
"""

from __future__ import annotations

import json

CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
}


def json_error(status_int: int, reason: str) -> bytes:
    body = json.dumps(
        {
            "status": "errored",
            "errors": [
                {
                    "code": CODES.get(status_int, "http_error"),
                    "message": f"the server could not read the request: {reason}",
                }
            ],
        },
        separators=(",", ":"),
    )
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return (head + body).encode("latin-1")


def install() -> None:
    from gunicorn import util

    def write_error(sock, status_int, reason, mesg):  # mesg holds the client's bytes: not echoed
        util.write_nonblock(sock, json_error(int(status_int), str(reason)))

    util.write_error = write_error
