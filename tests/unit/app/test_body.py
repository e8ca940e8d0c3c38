"""Reading a request body: bounded in bytes and time; a broken body is a JSON 400, never a 500."""

from __future__ import annotations

import io
import time

import pytest
from flask import Flask
from gunicorn.http.errors import InvalidChunkSize

from app import errors
from app.body import read_body


class Trickle(io.RawIOBase):
    """A body arriving one byte every `every` seconds."""

    def __init__(self, every: float):
        self.every = every

    def readable(self):
        return True

    def read(self, size=-1):
        time.sleep(self.every)
        return b"{"


class Broken(io.RawIOBase):
    def readable(self):
        return True

    def read(self, size=-1):
        raise InvalidChunkSize(b"zz")


@pytest.fixture
def app():
    flask_app = Flask(__name__)
    errors.register(flask_app)

    @flask_app.post("/read")
    def read():
        return {"size": len(read_body(1024, timeout=0.3))}

    return flask_app


def call(app, stream, length=None):
    environ = {"wsgi.input": stream, "CONTENT_TYPE": "application/json", "wsgi.input_terminated": True}
    headers = {} if length is None else {"Content-Length": str(length)}
    with app.test_request_context("/read", method="POST", environ_overrides=environ, headers=headers):
        response = app.full_dispatch_request()
    return response


def test_a_slowly_sent_body_is_cut_off(app):
    """Issue 11, finding 12."""
    started = time.monotonic()
    r = call(app, Trickle(0.05))
    assert r.status_code == 408 and r.json["errors"][0]["code"] == "request_timeout"
    assert r.headers["Connection"] == "close"
    assert time.monotonic() - started < 1.0


def test_a_bad_chunk_is_a_json_400(app):
    """Issue 11, finding 8."""
    r = call(app, Broken())
    assert r.status_code == 400 and r.is_json and r.json["errors"][0]["code"] == "body_unreadable"


def test_an_oversize_chunked_body_is_413(app):
    """Issue 11, finding 8."""
    r = call(app, io.BytesIO(b"x" * 5000))
    assert r.status_code == 413 and r.is_json


def test_a_body_within_the_limit_is_read_whole(app):
    assert call(app, io.BytesIO(b"x" * 1024)).json == {"size": 1024}
    assert call(app, io.BytesIO(b"x" * 100), length=100).json == {"size": 100}
    assert call(app, io.BytesIO(b"x" * 2000), length=2000).status_code == 413
