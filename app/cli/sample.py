"""`posbridge sample submit|validate|poll`: signed sample orders against a running service.

The secrets and the web's address come from the service's own configuration (the environment,
var/serve.env of a running `./dev serve`, .env), else `./dev serve`'s development defaults.
"""

from __future__ import annotations

import time

import click

from app import jsonio
from app.cli.output import Trouble, say
from app.dev_defaults import DEV_DEFAULTS
from app.orders.lifecycle import Status
from app.samples import encode, sample_order
from app.settings import read_value
from app.settings_files import cli_environment
from app.tokens import make_token

EXIT_UNREACHABLE = 3


def _config(name: str) -> str:
    return read_value(cli_environment(), name) or DEV_DEFAULTS[name]


def shared_id() -> str:
    return _config("PAR_SHARED_ID")


def jwt_token(seconds: int = 3600) -> str:
    env = cli_environment()
    claims = {name: env[var] for name, var in (("iss", "PAR_JWT_ISSUER"), ("aud", "PAR_JWT_AUDIENCE")) if env.get(var)}
    return make_token(_config("PAR_JWT_SECRET"), seconds, **claims)


def default_base_url() -> str:
    return f"http://127.0.0.1:{_config('PORT')}"


def _http(method: str, url: str, **kwargs):
    import requests

    try:
        return requests.request(method, url, timeout=kwargs.pop("timeout", 30), **kwargs)
    except requests.RequestException as exc:
        raise Trouble(f"the service at {url} did not answer: {type(exc).__name__}", EXIT_UNREACHABLE) from None


def _show(response) -> None:
    say(
        f"HTTP {response.status_code}"
        + (f"  Location: {response.headers['Location']}" if "Location" in response.headers else "")
    )
    try:
        say(jsonio.dumps(jsonio.loads(response.content), indent=2))
    except ValueError:
        say(response.text[:2000])


base_option = click.option("--base-url", default=None, help="the web (default: http://127.0.0.1:$PORT)")


@click.group("sample")
def sample() -> None:
    """Signed sample orders (the simulator's seeded menu) against a running service."""


def _tax_rate(base_url: str, location: str) -> str:
    """The location's tax rate as the service has it cached (GET /posnext/menus), so the totals agree."""
    response = _http(
        "GET",
        f"{base_url}/posnext/menus",
        params={"location_id": location},
        headers={"Authorization": f"Bearer {jwt_token()}"},
        timeout=30,
    )
    try:
        return str(jsonio.loads(response.content)["location"]["tax_rate"])
    except (ValueError, KeyError, TypeError):
        return "0.0825"  # no menu: the service will say why it rejects the order


def _post(
    kind: str,
    base_url: str | None,
    location: str,
    uid: str | None,
    ttl: int | None,
    callback_url: str | None,
    quantity: int,
):
    base_url = base_url or default_base_url()

    overrides: dict = {}
    if ttl is not None:
        overrides["ttl"] = ttl
    if callback_url:
        overrides["callback_url"] = callback_url
    body = sample_order(
        uid,
        location_id=location,
        request_type="place-order" if kind == "submit" else "validate-order",
        quantity=quantity,
        tax_rate=_tax_rate(base_url, location),
        **overrides,
    )
    data, headers = encode(body, shared_id(), jwt_token())
    url = f"{base_url}/posnext/order/{kind}"
    response = _http("POST", url, data=data, headers=headers)
    _show(response)
    return body["request_uid"], response


def order_options(command):
    for option in reversed(
        (
            click.option("--location", default="loc-001", show_default=True, help="location_id"),
            click.option("--uid", default=None, help="request_uid (default: a fresh ord-...)"),
            click.option("--ttl", type=int, default=None, help="seconds the order may be tried"),
            click.option("--callback-url", default=None, help="where the final order is POSTed"),
            click.option("--quantity", type=int, default=2, show_default=True, help="burgers"),
            base_option,
        )
    ):
        command = option(command)
    return command


@sample.command("submit")
@order_options
@click.option("--wait", is_flag=True, help="on 202, poll until the order is final")
def submit(base_url, location, uid, ttl, callback_url, quantity, wait) -> None:
    """POST a signed sample order to /posnext/order/submit and print the answer."""
    request_uid, response = _post("submit", base_url, location, uid, ttl, callback_url, quantity)
    if wait and response.status_code == 202:
        _poll(base_url, request_uid, wait=True, timeout=120)
    if response.status_code >= 400:
        raise SystemExit(1)


@sample.command("validate")
@order_options
def validate(base_url, location, uid, ttl, callback_url, quantity) -> None:
    """POST a signed sample order to /posnext/order/validate and print the answer."""
    _, response = _post("validate", base_url, location, uid, ttl, callback_url, quantity)
    if response.status_code >= 400:
        raise SystemExit(1)


def _poll(base_url: str | None, request_uid: str, wait: bool, timeout: float) -> None:
    url = f"{base_url or default_base_url()}/posnext/orders/{request_uid}"
    end = time.monotonic() + timeout
    while True:
        response = _http("GET", url, headers={"Authorization": f"Bearer {jwt_token()}"}, timeout=10)
        pending = response.status_code == 200 and jsonio.loads(response.content).get("status") == Status.PENDING
        if not (wait and pending) or time.monotonic() > end:
            break
        time.sleep(0.5)
    _show(response)
    if response.status_code >= 400 or (wait and pending):
        raise SystemExit(1)


@sample.command("poll")
@click.argument("request_uid")
@base_option
@click.option("--wait", is_flag=True, help="poll until the order is final")
@click.option("--timeout", default=60.0, show_default=True, help="seconds --wait waits at most")
def poll(request_uid: str, base_url, wait: bool, timeout: float) -> None:
    """GET /posnext/orders/REQUEST_UID with a JWT and print the answer."""
    _poll(base_url, request_uid, wait, timeout)


@sample.command("receive")
@click.option("--port", default=8099, show_default=True, help="where to listen (127.0.0.1)")
@click.option("--status", default=200, show_default=True, help="the HTTP status to answer")
@click.option("--count", default=0, help="stop after this many callbacks (0: run until Ctrl-C)")
def receive(port: int, status: int, count: int) -> None:
    """A callback receiver for trying callbacks: prints each one and whether its x-pch-digest verifies.
    Submit with --callback-url http://127.0.0.1:PORT/callback (./dev serve allows loopback callbacks)."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from app import signing

    key = signing.key_from_shared_id(shared_id())
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # http.server's naming
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = jsonio.loads(raw)
                verified = signing.verify(key, body, self.headers.get("x-pch-digest"))
                say(
                    f"callback {body.get('request_uid')}: {body.get('status')} "
                    f"(x-pch-digest {'ok' if verified else 'WRONG'}); answering {status}"
                )
            except ValueError:
                say(f"callback with a body that is not JSON ({len(raw)} bytes); answering {status}")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            received.append(1)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", port), Handler)
    say(f"receiving callbacks on http://127.0.0.1:{port}/callback (Ctrl-C stops)")
    try:
        while not count or len(received) < count:
            server.handle_request()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
