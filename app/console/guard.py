"""The console's door: basic auth (FLOWER_BASIC_AUTH, as Flower), CSRF on every POST, and
headers that keep its pages out of frames, caches and other sites' forms.

- Login: every request, pages and static files alike, needs the user:password of
  FLOWER_BASIC_AUTH; 401 with a Basic challenge otherwise (compared in constant time).
- CSRF: Flask-WTF's CSRFProtect. Each page's forms carry a token signed with the console's key
  and bound to a random value in its session cookie (SameSite=Strict, HttpOnly); a POST without
  a valid token is refused with 403 before the view runs. The browser sends basic auth to any
  site's form by itself, which is why the token is needed at all.
- The key is derived from FLOWER_BASIC_AUTH (HMAC), so every console process shares it without
  another secret to set, and changing the password ends every session and token.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Flask, Response, g, render_template, request

REALM = 'Basic realm="posbridge console", charset="UTF-8"'
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
}


def secret_key(credentials: str) -> bytes:
    return hmac.new(credentials.encode(), b"posbridge console session and CSRF key", hashlib.sha256).digest()


def user_of(credentials: str) -> str | None:
    """The logged-in user when the request's basic auth matches `credentials`, else None."""
    auth = request.authorization
    if auth is None or auth.type != "basic" or auth.username is None or auth.password is None:
        return None
    user, _, password = credentials.partition(":")
    same_user = hmac.compare_digest(auth.username.encode(), user.encode())
    same_password = hmac.compare_digest(auth.password.encode(), password.encode())
    return user if same_user and same_password else None


def by() -> str:
    """Who an action is recorded as, in the order's history."""
    return f"console:{g.console_user}"


def install(app: Flask, credentials: str) -> None:
    from flask_wtf.csrf import CSRFError, CSRFProtect

    app.config.update(
        SECRET_KEY=secret_key(credentials),
        SESSION_COOKIE_NAME="posbridge_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        WTF_CSRF_TIME_LIMIT=3600,
    )

    @app.before_request
    def login():  # registered before CSRFProtect's check: without the login, 401 first
        user = user_of(credentials)
        if user is None:
            return Response(
                "the order console needs the on-call login (FLOWER_BASIC_AUTH)\n",
                401,
                {"WWW-Authenticate": REALM, "Content-Type": "text/plain; charset=utf-8"},
            )
        g.console_user = user
        return None

    CSRFProtect(app)

    @app.errorhandler(CSRFError)
    def csrf_refused(error: CSRFError):
        return render_template("refused.html", reason=error.description), 403

    @app.after_request
    def headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response
