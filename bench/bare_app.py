"""The baselines for validate: bare Flask JSON endpoints, served by the same gunicorn.conf.py.

`gunicorn bench.bare_app:application --config gunicorn.conf.py`. `/bare` reads the same signed
body the validate benchmark posts and answers a small JSON object: the cost of gunicorn,
Flask and JSON alone. `/bare-redis` adds what validate cannot do without: one Redis GET (the
location's cached menu) and its JSON parse.
"""

from __future__ import annotations

import json
import os

import redis
from flask import Flask, jsonify, request

application = Flask(__name__)
store = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), max_connections=1000)


@application.post("/bare")
def bare():
    body = request.get_json(force=True, silent=True) or {}
    return jsonify({"request_uid": body.get("request_uid"), "status": "validated", "errors": []})


@application.post("/bare-redis")
def bare_redis():
    body = request.get_json(force=True, silent=True) or {}
    menu = json.loads(store.get(f"menu:{body.get('location_id')}") or "{}")
    return jsonify(
        {
            "request_uid": body.get("request_uid"),
            "status": "validated",
            "errors": [],
            "items": len(menu.get("items") or {}),
        }
    )


@application.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})
