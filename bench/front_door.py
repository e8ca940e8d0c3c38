"""What an unauthenticated client costs the web (issue 23, docs/SECURITY.md "The front door"):
`python -m bench.front_door [--root DIR] [--nginx]` starts the stack from DIR (default: this
checkout; an older tree, e.g. `git archive <commit> | tar -x -C DIR`, measures the code before),
sends each case once and prints the web workers' CPU seconds it cost, its wall time and its answer.

- chunked flood: POST validate without Authorization, `Transfer-Encoding: chunked`, `1\\r\\n \\r\\n`
  repeated (30 MB of wire), as fast as the socket takes it;
- header flood: GET /healthz with 190 headers of 16,000 bytes (3 MB);
- children bomb: 200 lines x 50 children of {} with a wrong digest (41 KB);
- and, for speed, 500 signed validates over one keep-alive connection (web CPU per request):
  with gunicorn-h1c importable (`PYTHONPATH=DIR` after `pip install --target DIR gunicorn-h1c`)
  gunicorn parses with it ("auto"), else with its Python parser.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import time

import psutil

from bin.nginx import Nginx
from bin.sample import sample_order
from bin.stack import ROOT, free_port
from harness.stack import LocalStack, Secrets
from hostile.wire import text

SECRETS = Secrets("front-door-jwt-secret-0123456789abcdef", "FrontDoor-0123456789", "front-door-pos-token")


def web_cpu(pid: int) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in psutil.Process(pid).children(recursive=True))


def send(port: int, head: bytes, body: bytes = b"", seconds: float = 60.0) -> tuple[str, float]:
    """Send head and body (ignoring a close), then read the answer's status line."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as sock:
        try:
            sock.sendall(head)
            view = memoryview(body)
            for start in range(0, len(body), 1 << 16):
                sock.sendall(view[start : start + (1 << 16)])
        except OSError:
            pass
        sock.settimeout(5)
        try:
            answer = sock.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
        except OSError as exc:
            answer = type(exc).__name__
    return answer or "(closed)", time.monotonic() - started


def h1c() -> bool:
    import importlib.util

    return importlib.util.find_spec("gunicorn_h1c") is not None


def validates(port: int, token: str, count: int) -> dict[int, int]:
    """`count` signed validates, one after another on one connection; their statuses counted."""
    import http.client

    from bin.sample import encode

    data, headers = encode(sample_order(request_type="validate-order"), SECRETS.shared_id, token)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    statuses: dict[int, int] = {}
    for _ in range(count):
        connection.request("POST", "/posnext/order/validate", body=data, headers=headers)
        response = connection.getresponse()
        response.read()
        statuses[response.status] = statuses.get(response.status, 0) + 1
    connection.close()
    return statuses


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.front_door")
    parser.add_argument("--root", default=str(ROOT))
    parser.add_argument("--nginx", action="store_true", help="through deploy/nginx/posbridge.conf")
    args = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="front-door-")
    stack = LocalStack(tmp, SECRETS, appendonly=False, root=args.root, env={"WEB_CONCURRENCY": "1"})
    stack.redis_server.start()
    nginx = None
    try:
        stack.start_possim(20)
        stack.start_web()
        port = stack.web_port
        if args.nginx:
            nginx = Nginx(os.path.join(tmp, "nginx"), free_port(), stack.web_port).start()
            port = nginx.listen_port
        bomb = sample_order()
        bomb["order_details"]["items"] = [{"id": "i", "item_type": "Item", "quantity": 1, "children": [{}] * 50}] * 200
        bomb_body = text(bomb).encode()
        token = stack.token
        cases = {
            "chunked flood, 30 MB, no JWT": (
                b"POST /posnext/order/validate HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"1\r\n \r\n" * (30_000_000 // 7),
            ),
            "header flood, 190 x 16,000 bytes": (
                b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                + b"".join(b"X-Flood-%d: %s\r\n" % (i, b"a" * 16000) for i in range(190))
                + b"\r\n",
                b"",
            ),
            "children bomb, 200 x 50 of {}": (
                f"POST /posnext/order/validate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nx-pch-digest: {'f' * 64}\r\n"
                f"Content-Length: {len(bomb_body)}\r\n\r\n".encode(),
                bomb_body,
            ),
        }
        print(
            f"root {args.root}{' through nginx' if args.nginx else ', gunicorn bare'} (1 gevent worker; "
            f"gunicorn_h1c {'importable' if h1c() else 'absent'})"
        )
        for name, (head, body) in cases.items():
            time.sleep(1)
            before = web_cpu(stack.stack.processes["web"].pid)
            answer, seconds = send(port, head, body)
            time.sleep(1)  # what the worker still does after the answer counts too
            cpu = web_cpu(stack.stack.processes["web"].pid) - before
            print(f"  {name:36} web CPU {cpu:6.3f} s   client {seconds:6.2f} s   {answer}")
        time.sleep(1)
        before = web_cpu(stack.stack.processes["web"].pid)
        started = time.monotonic()
        statuses = validates(port, token, 500)
        seconds = time.monotonic() - started
        cpu = web_cpu(stack.stack.processes["web"].pid) - before
        print(
            f"  {'500 signed validates, keep-alive':36} web CPU {cpu * 2:6.3f} ms/request   "
            f"client {seconds * 2:6.3f} ms/request   {statuses}"
        )
    finally:
        if nginx:
            nginx.stop()
        stack.stop()


if __name__ == "__main__":
    main()
