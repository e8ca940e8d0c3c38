"""A JWT signed with PAR_JWT_SECRET, as PAR sends one: `posbridge token`, the sample orders, tests."""

from __future__ import annotations

import time

import jwt

from app.settings import environment


def make_token(secret: str, seconds: int = 3600, **claims) -> str:
    payload = {"sub": "par-ordering", "iat": int(time.time()), "exp": int(time.time()) + seconds}
    env = environment()
    for name, variable in (("iss", "PAR_JWT_ISSUER"), ("aud", "PAR_JWT_AUDIENCE")):
        if env.get(variable):
            payload[name] = env[variable]
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")
