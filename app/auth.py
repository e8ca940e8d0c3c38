"""JWT and x-pch-digest checks on the way in (the signed answers on the way out: app/responses.py)."""

from __future__ import annotations

import time

import jwt
from flask import current_app, g, request
from jwt.types import Options

from app import signing
from app.errors import ApiError
from app.responses import DIGEST_HEADER

LEEWAY = 30
# Tokens already verified, with their claims: PAR sends one token until it expires, and a
# verified token can only go on to fail by expiring (checked on every use, as jwt.decode does).
VERIFIED_MAX = 1024
_verified: dict[tuple, dict] = {}


def _unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": 'Bearer realm="posnext"'})


def require_jwt() -> dict:
    settings = current_app.extensions["posbridge"].settings
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("unauthorized", "a Bearer token is required")
    key = settings.jwt_public_key or settings.jwt_secret
    algorithm = "RS256" if settings.jwt_public_key else "HS256"
    options: Options = {
        "require": ["exp"],
        "verify_aud": bool(settings.jwt_audience),
        "verify_iss": bool(settings.jwt_issuer),
    }
    cache_key = (token.strip(), key, algorithm, settings.jwt_audience, settings.jwt_issuer)
    claims = _verified.get(cache_key)
    if claims is not None and int(claims["exp"]) > time.time() - LEEWAY:
        return claims
    try:
        claims = jwt.decode(
            token.strip(),
            key,
            algorithms=[algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options=options,
            leeway=LEEWAY,
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token_expired", "the token has expired") from None
    except jwt.PyJWTError:
        raise _unauthorized("unauthorized", "the token is not valid") from None
    if len(_verified) >= VERIFIED_MAX:
        _verified.clear()
    _verified[cache_key] = claims
    return claims


def require_digest(body: dict) -> None:
    key = current_app.extensions["posbridge"].settings.digest_key
    if not signing.verify(key, body, request.headers.get(DIGEST_HEADER)):
        raise _unauthorized("signature_invalid", "x-pch-digest is missing or does not match the body")
    g.digest_verified = True
