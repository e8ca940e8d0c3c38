"""gunicorn's request, held to the front door's line when gunicorn runs bare (operations.md,
"The front door"). `install()` (each worker, from gunicorn.conf.py's post_worker_init) makes
gunicorn parse every request with `Request` below:

- The header block is capped at HEADER_BLOCK_BYTES in all. gunicorn's own cap is
  limit_request_fields x limit_request_field_size (200 x 16,380 was 3 MB, and its Python parser
  scans the whole buffer again on every read: 1 s of CPU for one request); here it is the smaller
  of that and 32 KiB, so gunicorn answers 431 (as JSON: app/server_errors.py) once a block passes
  it, without waiting for its end.
- The body object the app reads (`wsgi.input`) carries `close_connection`, gunicorn's force_close
  for this request: an answer given without reading the whole body calls it (app/body.py), so
  gunicorn writes `Connection: close` and closes after the answer instead of reading and
  discarding the rest of the body (gunicorn/http/parser.py, finish_body: no deadline, no byte
  cap; under gevent it never yields while data is buffered). A `Connection` header set by the app
  is hop-by-hop and dropped by gunicorn (http/wsgi.py, process_headers): only this closes.
"""

from __future__ import annotations

HEADER_BLOCK_BYTES = 32 * 1024


def request_class():
    from gunicorn.http import message

    class Request(message.Request):
        @property
        def max_buffer_headers(self) -> int:
            return min(self._max_buffer_headers, HEADER_BLOCK_BYTES)

        @max_buffer_headers.setter
        def max_buffer_headers(self, value: int) -> None:
            self._max_buffer_headers = value

        def set_body_reader(self) -> None:
            super().set_body_reader()
            self.body.close_connection = self.force_close

    return Request


def install() -> None:
    from gunicorn.http import parser

    parser.RequestParser.mesg_class = request_class()
