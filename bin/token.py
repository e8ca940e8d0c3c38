"""Print a JWT signed with PAR_JWT_SECRET, for trying the API by hand: `python -m bin.token`."""

from __future__ import annotations

import os
import sys
import time

import jwt


def make_token(secret: str, seconds: int = 3600, **claims) -> str:
    payload = {"sub": "par-ordering", "iat": int(time.time()), "exp": int(time.time()) + seconds}
    for name, env in (("iss", "PAR_JWT_ISSUER"), ("aud", "PAR_JWT_AUDIENCE")):
        if os.environ.get(env):
            payload[name] = os.environ[env]
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


if __name__ == "__main__":
    secret = os.environ.get("PAR_JWT_SECRET")
    if not secret:
        sys.exit("PAR_JWT_SECRET is not set")
    print(make_token(secret))
