"""``python -m possim --host 127.0.0.1 --port 9100 [--token T] [--knobs FILE] [--slower-than S]``.

``--slower-than S`` starts a POS slower than a client's connect + read timeout of S seconds:
every POST /orders sleeps S + 1 s before it creates the order (or refuses it as ``expired``,
past its ``not_after``); the same as the knob ``{"*": {"latency_ms": (S + 1) * 1000}}``.

It serves both POS shapes at once: the REST POS of pos-api.md and, under /v2, Square's Orders
API (possim/square.py), on one ledger and one set of knobs; POS_ADAPTER picks which the service
speaks, so `POS_ADAPTER=square ./dev serve` needs nothing more here.

Serves the simulator with gevent's WSGIServer, one greenlet per request, so latency sleeps
never hold up other requests. Stops cleanly on SIGTERM or SIGINT.
"""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402

from possim.app import create_app  # noqa: E402
from possim.cli import parse_args, start_knobs  # noqa: E402
from possim.knobs import KnobError  # noqa: E402
from possim.ledger import UnknownLocation  # noqa: E402


def main(argv=None) -> int:
    args = parse_args(argv)
    token = args.token or os.environ.get("POS_API_TOKEN", "")
    if not token:
        sys.exit("possim: no API token: pass --token or set POS_API_TOKEN")
    knobs = start_knobs(args)
    try:
        app = create_app(token, knobs=knobs)
    except KnobError as exc:
        sys.exit(f"possim: bad knobs in {args.knobs}: {exc}")
    except UnknownLocation as exc:
        sys.exit(f"possim: bad knobs in {args.knobs}: unknown location {exc}")
    server = WSGIServer((args.host, args.port), app, backlog=2048, log=sys.stderr if args.access_log else None)
    server.init_socket()
    # pywsgi writes the headers and the body in two sends: without TCP_NODELAY (inherited by
    # accepted sockets) Nagle holds the body for the client's delayed ACK, ~40 ms a call.
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    server.start()
    host, port = server.address[:2]
    print(f"possim listening on http://{host}:{port}", flush=True)
    stopping = Event()
    gevent.signal_handler(signal.SIGTERM, stopping.set)
    gevent.signal_handler(signal.SIGINT, stopping.set)
    stopping.wait()
    server.stop(timeout=2)
    print("possim stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
