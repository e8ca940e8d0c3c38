"""deploy/k8s: every resource valid against its schema (kubernetes-validate, strict, for the
built-in kinds; KEDA's own CRD schemas, vendored in deploy/schemas, for ScaledObject and
TriggerAuthentication), and the properties docs/SCALING.md promises of them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from app import celery_config
from app.settings import BY_NAME, load_settings
from tests.conftest import BASE_ENV

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
FILES = (
    "config.yaml",
    "web.yaml",
    "worker.yaml",
    "beat.yaml",
    "console.yaml",
    "network.yaml",
    "ingress.yaml",
    "archive-migrate.yaml",
)
CRD_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda-scaledobject-v1alpha1.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda-triggerauthentication-v1alpha1.json",
}
K8S_VERSION = "1.30.0"


def documents() -> list[dict]:
    return [doc for name in FILES for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def by_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == kind}


def strict(schema):
    """Unknown fields rejected, as the API server's strict field validation does for a CRD
    (a structural schema prunes what it does not list, unless x-kubernetes-preserve-unknown-fields)."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema.setdefault("additionalProperties", False)
        return schema
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def validate(doc: dict) -> None:
    key = (doc["apiVersion"], doc["kind"])
    if key in CRD_SCHEMAS:
        schema = strict(json.loads((ROOT / "deploy" / "schemas" / CRD_SCHEMAS[key]).read_text()))
        schema["properties"]["metadata"] = {"type": "object"}  # ObjectMeta: checked by the API server itself
        jsonschema.validate(doc, schema)
    else:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_resource_is_valid_against_its_schema(doc):
    validate(doc)


def test_the_kustomization_lists_every_file():
    assert yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"] == list(FILES)


def test_the_validators_reject_what_they_should():
    """Not a validator that lets everything through: a typo and a wrong type fail."""
    web = by_kind("Deployment")["posbridge-web"]
    broken = json.loads(json.dumps(web))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/readyz"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    scaled = json.loads(json.dumps(by_kind("ScaledObject")["posbridge-worker"]))
    scaled["spec"]["minReplicaCount"] = "two"
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled)
    scaled["spec"]["minReplicaCount"] = 2
    scaled["spec"]["triggers"][0]["authenticationRef"]["nmae"] = "typo"
    with pytest.raises(jsonschema.ValidationError, match="nmae"):
        validate(scaled)
    del scaled["spec"]["triggers"][0]["authenticationRef"]["nmae"]
    validate(scaled)
    del scaled["spec"]["scaleTargetRef"]
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled)


def test_web_is_ready_on_its_own_state_and_its_grace_covers_the_prestop_and_gunicorns_graceful_timeout():
    """Readiness on /healthz, not /readyz: a Redis blip must not take every web pod out of the
    Service at once; the ready pods answer PAR 503 + Retry-After (issue 20, finding 7)."""
    config = by_kind("ConfigMap")["posbridge-config"]["data"]
    pod = by_kind("Deployment")["posbridge-web"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    prestop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    graceful = int(config["WEB_GRACEFUL_TIMEOUT"])
    assert pod["terminationGracePeriodSeconds"] == prestop + graceful + 5


def test_worker_and_beat_have_liveness_probes():
    """The worker: its own /metrics endpoint answers (the process's event loop runs); beat:
    bin/healthcheck beat (Redis answers through the same Sentinels, a beat holds the lock)."""
    config = by_kind("ConfigMap")["posbridge-config"]["data"]
    worker = by_kind("Deployment")["posbridge-worker"]["spec"]["template"]["spec"]["containers"][0]
    probe = worker["livenessProbe"]["httpGet"]
    assert probe["path"] == "/metrics" and probe["port"] == "metrics"
    assert {"name": "metrics", "containerPort": int(config["WORKER_METRICS_PORT"])} in worker["ports"]
    beat = by_kind("Deployment")["posbridge-beat"]["spec"]["template"]["spec"]["containers"][0]
    assert beat["livenessProbe"]["exec"]["command"] == ["python", "-m", "bin.healthcheck", "beat"]
    assert beat["livenessProbe"]["failureThreshold"] * beat["livenessProbe"]["periodSeconds"] >= 120  # a failover


def test_workers_scale_on_the_depth_of_the_queues_celery_consumes_through_the_sentinels():
    settings = load_settings({**BASE_ENV})
    routes = celery_config(settings)["task_routes"]
    queues = {"orders"} | {r["queue"] for r in routes.values()} - {"maintenance"}
    scaled = by_kind("ScaledObject")["posbridge-worker"]["spec"]
    assert scaled["scaleTargetRef"]["name"] in by_kind("Deployment")
    assert scaled["minReplicaCount"] >= 2
    config = by_kind("ConfigMap")["posbridge-config"]["data"]
    listed = set()
    for trigger in scaled["triggers"]:
        assert trigger["type"] == "redis-sentinel"
        assert trigger["metadata"]["addresses"] == config["REDIS_SENTINELS"]
        assert trigger["metadata"]["sentinelMaster"] == config["REDIS_SENTINEL_MASTER"]
        assert trigger["authenticationRef"]["name"] in by_kind("TriggerAuthentication")
        listed.add(trigger["metadata"]["listName"])
    assert listed == queues
    container = by_kind("Deployment")["posbridge-worker"]["spec"]["template"]["spec"]["containers"][0]
    command = " ".join(container["command"])
    procfile = (ROOT / "Procfile").read_text()
    worker_line = re.search(r"^worker: (.+)$", procfile, re.M).group(1)
    assert re.search(r"--queues (\S+)", command).group(1) == re.search(r"--queues (\S+)", worker_line).group(1)


def test_two_beats_with_the_redbeat_lock_and_a_budget_for_every_deployment():
    beat = by_kind("Deployment")["posbridge-beat"]
    assert beat["spec"]["replicas"] == 2
    assert "redbeat.RedBeatScheduler" in beat["spec"]["template"]["spec"]["containers"][0]["command"]
    budgets = by_kind("PodDisruptionBudget")
    for name, deployment in by_kind("Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets.values() if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(covering) == 1, name


def test_the_redis_is_found_through_sentinels_and_finals_wait_for_the_replica():
    config = by_kind("ConfigMap")["posbridge-config"]["data"]
    settings = load_settings({**BASE_ENV, **config})
    assert len(settings.sentinel_hosts) == 3
    assert celery_config(settings)["broker_url"].startswith("sentinel://")
    assert config["DURABILITY"] == "replica"
    for deployment in by_kind("Deployment").values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            refs = {next(iter(e.values()))["name"] for e in container["envFrom"]}
            assert refs == {"posbridge-config", "posbridge-secrets"}


def test_the_cli_validator_ci_runs_passes_the_builtin_kinds():
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "kubernetes-validate"),
            "--strict",
            "--quiet",
            "-k",
            K8S_VERSION,
            *[str(K8S / name) for name in FILES],
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_validates_the_manifests():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"kubernetes-validate --strict .*deploy/k8s/config\.yaml", ci)


def test_every_pod_runs_without_a_token_capabilities_or_an_unconfined_seccomp():
    """Issue 23, finding 10: before: no seccomp profile, no capabilities dropped, the service account token mounted."""
    deployments = by_kind("Deployment")
    assert set(deployments) == {"posbridge-web", "posbridge-worker", "posbridge-beat", "posbridge-console"}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod.get("automountServiceAccountToken") is False, name
        assert pod["securityContext"].get("seccompProfile") == {"type": "RuntimeDefault"}, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context.get("capabilities", {}).get("drop") == ["ALL"], (name, container["name"])
            assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True


def test_a_network_policy_lets_in_only_the_front_door():
    """Issue 23, finding 10:
    before: no NetworkPolicy: any pod of the cluster could reach the web, and the pods anything."""
    policies = by_kind("NetworkPolicy")
    assert policies, "no NetworkPolicy"
    selected = {p["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/name") for p in policies.values()}
    assert selected == {"posbridge"}
    web_in = [
        p
        for p in policies.values()
        if p["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "web"
    ]
    assert len(web_in) == 1 and web_in[0]["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = web_in[0]["spec"]["ingress"]
    assert [port["port"] for port in rule["ports"]] == ["http"]
    assert all("namespaceSelector" in peer or "podSelector" in peer for peer in rule["from"])
    default = [
        p for p in policies.values() if set(p["spec"]["podSelector"]["matchLabels"]) == {"app.kubernetes.io/name"}
    ]
    assert len(default) == 1 and set(default[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in default[0]["spec"], "the pods take no traffic but the web's front door"


def test_issue_23_the_ingress_holds_the_shipped_front_doors_limits_and_routes_only_pars_paths():
    """Before: no front door in Kubernetes: the web's Service took every client's bytes."""
    conf = (ROOT / "deploy" / "nginx" / "posbridge.conf").read_text()
    directive = dict(re.findall(r"^\s+([a-z_]+) ([^;]+);", conf, re.M))
    (ingress,) = by_kind("Ingress").values()
    notes = ingress["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert notes[prefix + "proxy-body-size"] == directive["client_max_body_size"] == "256k"
    assert notes[prefix + "client-body-buffer-size"] == directive["client_body_buffer_size"]
    assert notes[prefix + "proxy-request-buffering"] == directive["proxy_request_buffering"] == "on"
    assert notes[prefix + "proxy-read-timeout"] + "s" == directive["proxy_read_timeout"]
    controller = (K8S / "ingress.yaml").read_text()
    assert f'large-client-header-buffers: "{directive["large_client_header_buffers"]}"' in controller
    assert f'client-header-buffer-size: "{directive["client_header_buffer_size"]}"' in controller
    assert f'client-header-timeout: "{directive["client_header_timeout"].rstrip("s")}"' in controller
    paths = [(p["path"], p["pathType"]) for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert paths == [("/posnext/", "Prefix"), ("/healthz", "Exact"), ("/readyz", "Exact")]
    assert BY_NAME["MAX_CONTENT_LENGTH"].default == 256 * 1024  # the body cap is MAX_CONTENT_LENGTH's


def test_the_archive_url_comes_from_the_secret_and_one_job_migrates():
    """Issue 21, 5: web and worker read ARCHIVE_URL (a managed PostgreSQL) from the Secret; its
    table is migrated by one Job, never by the Deployments."""
    deployments = by_kind("Deployment")
    for name in ("posbridge-web", "posbridge-worker"):
        env = {e["name"]: e for e in deployments[name]["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["ARCHIVE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "posbridge-secrets", "key": "ARCHIVE_URL"}
    for deployment in deployments.values():
        assert "migrate" not in " ".join(deployment["spec"]["template"]["spec"]["containers"][0]["command"])
    job = by_kind("Job")["posbridge-archive-migrate"]["spec"]["template"]["spec"]["containers"][0]
    assert job["command"] == ["posbridge", "archive", "migrate"]
    config = by_kind("ConfigMap")["posbridge-config"]["data"]
    assert "ARCHIVE_URL" not in config and int(config["ARCHIVE_AFTER_SECONDS"]) > 0


def test_prometheus_scrapes_every_web_and_worker_pod():
    """Issue 20, finding 7: no scrape config in Kubernetes (workers scaled by KEDA were never scraped)."""
    import yaml as _yaml

    for name, port in (("web.yaml", "8000"), ("worker.yaml", "9808")):
        docs = [d for d in _yaml.safe_load_all((ROOT / "deploy" / "k8s" / name).read_text()) if d]
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == port
