"""The console is its own process on its own port, never behind PAR's front door: the Procfile
line, gunicorn's settings from the table (not the web's gunicorn.conf.py), no console path in
the web's app and no route to it in nginx's configuration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.console import server
from bin.stack import procfile

ROOT = Path(__file__).resolve().parents[4]


def test_its_procfile_line():
    assert procfile()["console"] == "python -m app.console"


def test_it_binds_the_tables_address_and_port_and_needs_the_login(monkeypatch):
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "oncall:console-password-0123456789")
    monkeypatch.setenv("CONSOLE_PORT", "6001")
    monkeypatch.delenv("CONSOLE_ADDRESS", raising=False)
    options = server.options()
    assert options["bind"] == "127.0.0.1:6001" and options["workers"] == 1 and options["worker_class"] == "gthread"
    monkeypatch.setenv("CONSOLE_PORT", "none")
    with pytest.raises(SystemExit, match="CONSOLE_PORT"):
        server.options()
    monkeypatch.setenv("CONSOLE_PORT", "6001")
    monkeypatch.delenv("FLOWER_BASIC_AUTH")
    with pytest.raises(SystemExit, match="FLOWER_BASIC_AUTH"):
        server.options()


def test_the_web_has_no_console_path_and_the_console_no_pars(app, console):
    web_rules = {rule.rule for rule in app.url_map.iter_rules()}
    console_rules = {rule.rule for rule in console.url_map.iter_rules()}
    assert not {rule for rule in web_rules if rule.startswith(("/orders", "/lists", "/find", "/recent"))}
    assert not {rule for rule in console_rules if rule.startswith(("/posnext", "/metrics", "/docs"))}
    assert "/orders/<uid>/<action>" in console_rules


def test_nginx_proxies_only_to_the_web():
    conf = (ROOT / "deploy" / "nginx" / "posbridge.conf").read_text()
    assert set(re.findall(r"proxy_pass\s+([^;]+);", conf)) == {"http://posbridge_web"}
    upstream = re.search(r"upstream posbridge_web \{(.*?)\}", conf, re.S).group(1)
    assert re.findall(r"server\s+([^;]+);", upstream) == ["web:8000"]
    assert "console" not in conf and "5556" not in conf


def test_kubernetes_runs_it_with_no_way_in_but_a_port_forward():
    import yaml

    k8s = ROOT / "deploy" / "k8s"
    docs = [
        d
        for name in ("console.yaml", "web.yaml", "worker.yaml", "beat.yaml", "network.yaml", "ingress.yaml")
        for d in yaml.safe_load_all((k8s / name).read_text())
        if d
    ]
    (console,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "posbridge-console"]
    container = console["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "app.console"]
    labels = console["spec"]["template"]["metadata"]["labels"]
    for doc in docs:
        if doc["kind"] == "Service":
            assert not doc["spec"]["selector"].items() <= labels.items(), doc["metadata"]["name"]
        if doc["kind"] == "NetworkPolicy" and doc["spec"].get("ingress"):
            assert not doc["spec"]["podSelector"]["matchLabels"].items() <= labels.items(), doc["metadata"]["name"]
    assert "console" not in (k8s / "ingress.yaml").read_text()
