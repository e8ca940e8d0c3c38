"""The naive peer for submit: a plain Flask view that calls the POS inline, no Redis, no Celery.

`gunicorn bench.naive_peer:application --config gunicorn.conf.py` with WEB_WORKER_CLASS=gthread:
what a first version of this service would be. It checks the JWT and x-pch-digest like ours,
posts the order to the POS with `requests` (one pooled session per process) and answers with
the POS's order id. Every request holds a thread for the whole POS call.
"""

from __future__ import annotations

import os
import time

import jwt
import requests
from flask import Flask, jsonify, request
from requests.adapters import HTTPAdapter

from app import jsonio, signing
from app.pos.rest import order_body

application = Flask(__name__)
POS_URL = os.environ.get("POS_BASE_URL", "http://127.0.0.1:9100").rstrip("/")
DIGEST_KEY = signing.key_from_shared_id(os.environ["PAR_SHARED_ID"])  # gunicorn.conf.py requires it too
JWT_SECRET = os.environ.get("PAR_JWT_SECRET", "")
session = requests.Session()
session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=100, max_retries=0))
session.headers["Authorization"] = f"Bearer {os.environ.get('POS_API_TOKEN', '')}"


@application.post("/posnext/order/submit")
def submit():
    try:
        jwt.decode(request.headers.get("Authorization", "").partition(" ")[2], JWT_SECRET, algorithms=["HS256"])
        order = jsonio.loads(request.get_data())
    except (jwt.PyJWTError, jsonio.BadJson):
        return jsonify({"status": "errored"}), 401
    if not signing.verify(DIGEST_KEY, order, request.headers.get("x-pch-digest")):
        return jsonify({"status": "errored"}), 401
    try:
        body = order_body(order, time.time() + 900)  # the same wire body ours sends, not_after included
        answer = session.post(
            f"{POS_URL}/orders",
            data=jsonio.dumps(body),
            timeout=(2, 10),
            headers={"Idempotency-Key": order["request_uid"], "Content-Type": "application/json"},
        )
    except requests.RequestException:
        return jsonify({"request_uid": order["request_uid"], "status": "errored"}), 502
    if answer.status_code not in (200, 201):
        return jsonify({"request_uid": order["request_uid"], "status": "errored"}), 502
    return jsonify(
        {"request_uid": order["request_uid"], "status": "placed", "pos_order_id": answer.json()["pos_order_id"]}
    )


@application.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})
