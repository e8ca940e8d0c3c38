"""Debian's nginx with the shipped front door (deploy/nginx/posbridge.conf) in front of a web on
this machine: for the integration test and `python -m hostile --nginx`. The file is used as it is,
but for its two addresses: `listen 8080` and `server web:8000` become this run's ports."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bin.stack import ROOT, wait_for_port

CONF = ROOT / "deploy" / "nginx" / "posbridge.conf"
LISTEN, UPSTREAM = "listen 8080 default_server;", "server web:8000;"


def binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)


def render(listen_port: int, web_port: int) -> str:
    """The shipped file with this run's two addresses, and nothing else changed."""
    text = CONF.read_text()
    assert text.count(LISTEN) == 1 and text.count(UPSTREAM) == 1, "deploy/nginx/posbridge.conf's addresses moved"
    return text.replace(LISTEN, f"listen 127.0.0.1:{listen_port} default_server;").replace(
        UPSTREAM, f"server 127.0.0.1:{web_port};"
    )


class Nginx:
    def __init__(self, directory: str, listen_port: int, web_port: int):
        self.directory = Path(directory)
        self.listen_port, self.web_port = listen_port, web_port
        self.process: subprocess.Popen | None = None
        self.temp: Path | None = None

    def start(self) -> Nginx:
        nginx = binary()
        if nginx is None:
            raise RuntimeError("no nginx: bin/ensure-nginx installs Debian's")
        self.directory.mkdir(parents=True, exist_ok=True)
        # nginx's workers (nobody, when started as root) write their temp files (a body over
        # client_body_buffer_size) here: a throwaway directory they can reach wherever `directory` is
        temp = Path(tempfile.mkdtemp(prefix="posbridge-nginx-"))
        os.chmod(temp, 0o777)  # noqa: S103
        self.temp = temp
        (self.directory / "posbridge.conf").write_text(render(self.listen_port, self.web_port))
        main = self.directory / "nginx.conf"
        main.write_text(
            f"daemon off;\nworker_processes 1;\npid {self.directory}/nginx.pid;\n"
            f"error_log {self.directory}/error.log warn;\nevents {{ worker_connections 1024; }}\n"
            f"http {{\n  access_log off;\n  client_body_temp_path {temp}/body;\n"
            f"  proxy_temp_path {temp}/proxy;\n  fastcgi_temp_path {temp}/fastcgi;\n"
            f"  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n"
            f"  include {self.directory}/posbridge.conf;\n}}\n"
        )
        stderr = open(self.directory / "stderr.log", "ab")  # noqa: SIM115 - nginx's own
        self.process = subprocess.Popen(
            [nginx, "-c", str(main), "-p", str(self.directory)], stdout=subprocess.DEVNULL, stderr=stderr
        )
        wait_for_port(self.listen_port, 10, self.process)
        return self

    def log(self) -> str:
        paths = [self.directory / name for name in ("stderr.log", "error.log")]
        return "".join(path.read_text(errors="replace") for path in paths if path.exists())

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.temp is not None:
            shutil.rmtree(self.temp, ignore_errors=True)
