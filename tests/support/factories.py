"""The tests' factories: orders as PAR sends them (app/samples.py), tokens, and orders written
through the store as the engine writes them."""

from __future__ import annotations

import functools
import time
from decimal import Decimal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app import jsonio
from app.orders.lifecycle import Move
from app.orders.order import fingerprint, new_record
from app.orders.rules import compute_totals
from app.pos.rest import normalise_menu
from app.samples import encode, sample_order
from app.tokens import make_token
from schemas.orders import OrderRequestSchema
from tests.support.fakes import FakePos, seeded_menu

__all__ = [
    "UID",
    "create_order",
    "encode",
    "final_order",
    "handed_off",
    "make_token",
    "menu",
    "rsa_pair",
    "sample_order",
    "token",
    "until_final",
    "with_totals",
]

SCHEMA = OrderRequestSchema()


def menu(location_id: str = "loc-001", fetched_at: float = 0.0) -> dict:
    """The simulator's seeded menu for a location, as the menu cache holds it."""
    location, items = seeded_menu(location_id)
    return dict(normalise_menu(location, items), fetched_at=fetched_at)


def with_totals(order: dict, tax_rate: str = "0.0825") -> dict:
    """The order with its five totals recomputed from its lines (after a test changed them)."""
    details = order["order_details"]
    details.update(compute_totals(details, Decimal(tax_rate)).as_dict())
    return order


@functools.cache
def rsa_pair() -> tuple[bytes, str]:
    """(private key PEM, public key PEM) for RS256 tokens."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem.decode()


def token(key, algorithm: str = "HS256", seconds: int = 600, **claims) -> str:
    payload = {"sub": "par-ordering", "iat": int(time.time()), "exp": int(time.time()) + seconds}
    payload.update(claims)
    return jwt.encode(payload, key, algorithm=algorithm)


def create_order(store, uid, fp, doc, ttl_deadline, max_async, by, claim_seconds, menu_key, menu_version=""):
    """store.create with the record as a dict (tests build records as dicts)."""
    return store.create(
        uid,
        fp=fp,
        doc_text=jsonio.dumps(doc),
        location=doc.get("location_id") or "",
        ttl_deadline=ttl_deadline,
        max_async=max_async,
        by=by,
        claim_seconds=claim_seconds,
        menu_key=menu_key,
        menu_version=menu_version,
    )


UID = "ord-1"


def handed_off(store, uid=UID, ttl=None, validated=False, deadline=None, **overrides):
    """An order as the web leaves it after a 202: recorded, (validated,) handed off, due now."""
    if "ttl_override" in overrides:
        overrides["ttl"] = overrides.pop("ttl_override")
    request = SCHEMA.load(sample_order(uid=uid, **overrides))
    doc = new_record(request, store.now())
    deadline = deadline or (store.now() + ttl if ttl else None)
    created, token = create_order(
        store, uid, fingerprint(request), doc, deadline, 900, "web", 1.0, f"menu:{doc['location_id']}"
    )
    if validated:
        store.mark_validated(uid, token, by="web", pos_body=FakePos().order_body(store.get(uid).doc, created.deadline))
    store.hand_off(uid, token, by="web")
    return created.deadline


def until_final(store, mover, clock, limit=10_000):
    """Run the order's moves at the times the schedule plans them, as the sweep would."""
    for _ in range(limit):
        order = store.get(UID)
        if order.final:
            return order
        due = store.next_move(UID)
        clock.now = max(clock.now, due)
        mover.move_order(UID)
    raise AssertionError("never final")


def final_order(store, url, status="placed", uid="ord-cb"):
    """A handed-off order made final by a worker (so its callback is owed)."""
    request = sample_order(uid=uid, callback_url=url)
    request["order_details"]["loyalty"] = {"member": "L-1"}
    _, token = create_order(
        store,
        uid,
        fingerprint(request),
        new_record(request, 1_795_456_800.0),
        None,
        900,
        "web",
        0.0,
        "menu:none",
    )
    store.hand_off(uid, token, by="web")
    if status != "pending":
        claim = store.claim(Move.ORDER, uid, 5)
        doc = dict(store.get(uid).doc, status=status, completed_at="2026-11-23T18:00:01.000Z")
        doc["order_details"] = dict(doc["order_details"], pos_order_id="P-1")
        store.finish(uid, claim.token, doc=doc, by="worker", note=status)
    return uid
