"""Structural checks of the Dockerfile, docker-compose.yml and deploy/kubernetes.

No Docker engine, kubectl or kustomize runs here: the files are read as text and YAML and checked for what
production relies on (stages, non-root, probes, persistence, no secrets, settings that exist).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from knowledge.settings import Settings, env_name

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"
SETTINGS = {env_name(field) for field in Settings.model_fields}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}
TOKEN_LIKE = re.compile(r"xox[bap]-|xapp-|\bsk-[A-Za-z0-9]|\blore_[A-Za-z0-9]{8,}")
SECRET_NAME = re.compile(r"TOKEN|SECRET|KEY|PASSWORD")
LORE_IMAGE = "registry.example.com/lore:0.1.0"


# ---- Dockerfile ------------------------------------------------------------------------------------------


@cache
def instructions() -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments) of the Dockerfile; continuation lines and heredoc bodies stay with theirs."""
    lines = iter((ROOT / "Dockerfile").read_text().splitlines())
    found = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.endswith("\\"):
            line = line[:-1] + " " + next(lines).strip()
        heredoc = re.search(r"<<-?'?(\w+)'?", line)
        if heredoc:
            line += "\n" + "\n".join(iter(lines.__next__, heredoc.group(1)))
        word, _, rest = line.strip().partition(" ")
        found.append((word.upper(), rest))
    return tuple(found)


def final_stage() -> list[tuple[str, str]]:
    steps = list(instructions())
    last = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last:]


def args_of(word: str, steps: list[tuple[str, str]] | None = None) -> list[str]:
    return [rest for w, rest in (steps if steps is not None else instructions()) if w == word]


def base_images() -> list[str]:
    defaults = dict(re.findall(r"^(\w+)=(\S+)$", "\n".join(args_of("ARG")), re.M))
    images = [rest.split()[0] for rest in args_of("FROM")]
    return [re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], image) for image in images]


def test_dockerfile_builds_in_two_stages_from_pinned_images() -> None:
    assert len(args_of("FROM")) >= 2
    assert any(rest.lower().endswith(" as builder") for rest in args_of("FROM"))
    for image in base_images():
        assert ":" in image and not image.endswith(":latest"), image
        assert image.startswith("python:3.11-slim-bookworm")


def test_dockerfile_final_stage_runs_as_a_non_root_user() -> None:
    users = args_of("USER", final_stage())
    assert users, "no USER in the final stage"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert any("--uid 10001" in run for run in args_of("RUN", final_stage()))
    assert any("/opt/venv" in copy and "--from=builder" in copy for copy in args_of("COPY", final_stage()))


def test_dockerfile_installs_the_project_and_only_libmagic_at_run_time() -> None:
    assert any(re.search(r"pip install \.(\s|$)", run) for run in args_of("RUN"))
    assert not any("pip install -e" in run for run in args_of("RUN"))
    apt = [run for run in args_of("RUN", final_stage()) if "apt-get install" in run]
    assert len(apt) == 1 and "libmagic1" in apt[0] and "build-essential" not in apt[0]


def test_dockerfile_entrypoint_is_lore_bot() -> None:
    assert json.loads(args_of("ENTRYPOINT")[-1]) == ["lore"]
    assert json.loads(args_of("CMD")[-1]) == ["bot"]
    assert set(" ".join(args_of("EXPOSE")).split()) == {"3000", "8788", "9108"}


def test_dockerfile_health_check_asks_healthz_with_urllib() -> None:
    assert args_of("HEALTHCHECK", final_stage())
    text = (ROOT / "Dockerfile").read_text()
    assert "urllib.request" in text and "/healthz" in text


def test_dockerfile_fetches_nothing_at_run_time() -> None:
    for word, rest in instructions():
        assert not re.search(r"\b(curl|wget)\b", rest), (word, rest)
        assert not (word == "ADD" and "http" in rest), rest


def test_dockerfile_proves_the_bundled_model_works_offline() -> None:
    checks = [run for run in args_of("RUN", final_stage()) if "--network=none" in run]
    assert checks, "no RUN --network=none"
    assert "LocalEmbedder" in checks[0] and "embed_query" in checks[0]
    env = " ".join(args_of("ENV", final_stage()))
    for setting in ("LORE_DATA_DIR=/data", "HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "DO_NOT_TRACK=1"):
        assert setting in env
    assert '"/data"' in " ".join(args_of("VOLUME", final_stage()))


REFUSE_NETWORK = """import socket
def refuse(*args, **kwargs):
    raise OSError("network refused: the image's offline check must not download anything")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
"""


def test_the_images_offline_check_passes_here_with_the_network_refused(tmp_path: Path) -> None:
    """The script the image runs at build time (`RUN --network=none`), run against this project's
    environment with every connection refused: it must pass before any image can be built with it."""
    run = next(run for run in args_of("RUN", final_stage()) if "--network=none" in run)
    script = run.split("\n", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LORE_", "SLACK_"))}
    env |= {"TIKTOKEN_CACHE_DIR": str(tmp_path / "tiktoken"), "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1"}
    done = subprocess.run(
        [sys.executable, "-c", REFUSE_NETWORK + script],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "offline check: embedded one sentence into 384 dimensions, parsed one page" in done.stdout


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".git", ".venv", ".lore"} <= ignored


# ---- docker-compose.yml ------------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def test_compose_has_the_services_from_official_and_local_images() -> None:
    assert set(services()) == {"redis", "qdrant", "bot", "worker", "api"}
    assert services()["redis"]["image"].startswith("redis:7")
    qdrant = services()["qdrant"]["image"]
    assert qdrant.startswith("qdrant/qdrant:v") and not qdrant.endswith(":latest")
    for name in ("bot", "worker", "api"):
        assert services()[name]["build"] == "."


@pytest.mark.parametrize(("service", "command"), [("bot", "bot"), ("worker", "worker"), ("api", "api")])
def test_compose_runs_each_lore_role(service: str, command: str) -> None:
    assert services()[service]["command"][0] == command
    assert services()[service]["env_file"] == ".env"


def test_compose_api_is_optional_and_listens_on_all_interfaces() -> None:
    api = services()["api"]
    assert api["profiles"] == ["api"]
    assert api["command"] == ["api", "--host", "0.0.0.0"]
    assert "8788:8788" in api["ports"]


def test_compose_keeps_data_in_named_volumes() -> None:
    named = set(compose()["volumes"])
    mounts = {m for s in services().values() for m in s.get("volumes", [])}
    assert {"redis-data:/data", "qdrant-data:/qdrant/storage", "worker-data:/data"} <= mounts
    assert {m.split(":")[0] for m in mounts} <= named


def test_compose_redis_appends_to_its_log() -> None:
    command = services()["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"


@pytest.mark.parametrize("service", ["redis", "qdrant", "bot", "worker", "api"])
def test_compose_service_has_a_health_check(service: str) -> None:
    test = services()[service]["healthcheck"]["test"]
    assert test[0] in {"CMD", "CMD-SHELL"}
    assert not any(re.search(r"\b(curl|wget)\b", part) for part in test)


@pytest.mark.parametrize("service", ["bot", "worker", "api"])
def test_compose_lore_waits_for_healthy_redis_and_qdrant(service: str) -> None:
    depends = services()[service]["depends_on"]
    assert depends == {
        "redis": {"condition": "service_healthy"},
        "qdrant": {"condition": "service_healthy"},
    }
    env = services()[service]["environment"]
    assert env["LORE_REDIS_URL"].startswith("redis://redis:")
    assert env["LORE_QDRANT_URL"] == "http://qdrant:6333"
    assert env["LORE_LOG_FORMAT"] == "json"


def test_compose_worker_gets_time_to_hand_jobs_back() -> None:
    assert int(services()["worker"]["stop_grace_period"].rstrip("s")) > 25


def compose_environment() -> Iterator[tuple[str, str]]:
    for service in services().values():
        env = service.get("environment", {})
        pairs = env.items() if isinstance(env, dict) else (e.partition("=")[::2] for e in env)
        for name, value in pairs:
            yield name, "" if value is None else str(value)


def test_compose_holds_no_secret_values() -> None:
    for name, value in compose_environment():
        assert not TOKEN_LIKE.search(value), name
        if SECRET_NAME.search(name):
            assert value == "", name
    assert not TOKEN_LIKE.search((ROOT / "docker-compose.yml").read_text())


# ---- Kubernetes ------------------------------------------------------------------------------------------


@cache
def kustomization() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return data


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@cache
def rendered() -> tuple[dict[str, Any], ...]:
    """What `kustomize build` would give for what these tests look at: namespace and image rewritten."""
    spec = kustomization()
    images = {i["name"]: f"{i['newName']}:{i['newTag']}" for i in spec.get("images", [])}
    objects = [obj for name in spec["resources"] for obj in load_all(K8S / name)]
    for obj in objects:
        if obj["kind"] not in CLUSTER_SCOPED and "namespace" in spec:
            obj["metadata"]["namespace"] = spec["namespace"]
        for container in containers(obj):
            container["image"] = images.get(container["image"], container["image"])
    return tuple(objects)


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = pod_spec(obj).get("containers", [])
    return found


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj.get("spec", {}).get("template", {}).get("spec", {})
    return spec


def find(kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in rendered() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


@cache
def secrets() -> tuple[dict[str, Any], ...]:
    """The Secrets an operator creates before applying (secret.yaml is their placeholder template)."""
    return tuple(load_all(K8S / "secret.yaml"))


def secret(name: str) -> dict[str, Any]:
    return next(s for s in secrets() if s["metadata"]["name"] == name)


def test_kustomization_lists_existing_files_but_no_secret_values_or_helm_values() -> None:
    resources = kustomization()["resources"]
    assert all((K8S / name).is_file() for name in resources)
    assert "secret.yaml" not in resources and "qdrant-values.yaml" not in resources
    assert kustomization()["namespace"] == "lore"


def test_every_object_is_well_formed_and_in_the_lore_namespace() -> None:
    assert find("Namespace", "lore")
    for obj in rendered():
        assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"], obj
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"]["namespace"] == "lore"


def probe(container: dict[str, Any], kind: str) -> tuple[str, int]:
    """(path, port number) of an HTTP probe; a named port is looked up in the container's ports."""
    http = container[kind]["httpGet"]
    port = http["port"]
    if isinstance(port, str):
        port = next(p["containerPort"] for p in container["ports"] if p["name"] == port)
    return http["path"], port


def test_bot_runs_replicated_with_probes_and_limits() -> None:
    bot = find("Deployment", "lore-bot")
    assert bot["spec"]["replicas"] >= 2
    (container,) = containers(bot)
    assert container["args"] == ["bot"]
    assert probe(container, "readinessProbe") == ("/readyz", 3000)
    assert probe(container, "livenessProbe") == ("/healthz", 3000)
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])


@pytest.mark.parametrize("name", ["lore-bot", "lore-worker", "lore-api"])
def test_lore_pods_run_as_non_root_on_a_read_only_root(name: str) -> None:
    deployment = find("Deployment", name)
    security = pod_spec(deployment)["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001
    (container,) = containers(deployment)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounted = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    assert set(mounted) == {"/data", "/tmp"}
    assert "emptyDir" in volumes[mounted["/tmp"]]


@pytest.mark.parametrize(
    ("name", "port"), [("lore-bot", "3000"), ("lore-worker", "9108"), ("lore-api", "8788")]
)
def test_lore_pods_are_scraped_by_prometheus(name: str, port: str) -> None:
    annotations = find("Deployment", name)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == port
    assert annotations["prometheus.io/path"] == "/metrics"


def test_bot_autoscales_from_two_replicas_on_cpu() -> None:
    hpa = find("HorizontalPodAutoscaler", "lore-bot")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "lore-bot",
    }
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]


def selects(selector: dict[str, str], obj: dict[str, Any]) -> bool:
    labels = obj["spec"]["template"]["metadata"]["labels"]
    return bool(selector) and selector.items() <= labels.items()


def test_bot_disruption_budget_selects_the_bot_pods() -> None:
    pdb = find("PodDisruptionBudget", "lore-bot")
    assert pdb["spec"].get("minAvailable") == 1 or pdb["spec"].get("maxUnavailable") == 1
    assert selects(pdb["spec"]["selector"]["matchLabels"], find("Deployment", "lore-bot"))
    assert not selects(pdb["spec"]["selector"]["matchLabels"], find("Deployment", "lore-worker"))


def test_every_service_selects_pods_on_a_declared_port() -> None:
    workloads = [o for o in rendered() if o["kind"] in {"Deployment", "StatefulSet"}]
    for service in (o for o in rendered() if o["kind"] == "Service"):
        (target,) = [w for w in workloads if selects(service["spec"]["selector"], w)]
        declared = {p["name"] for c in containers(target) for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= declared


def test_workers_have_probes_a_grace_period_and_no_state_of_their_own() -> None:
    worker = find("Deployment", "lore-worker")
    assert pod_spec(worker)["terminationGracePeriodSeconds"] > 25
    (container,) = containers(worker)
    assert container["args"] == ["worker"]
    assert probe(container, "readinessProbe") == ("/healthz", 9108)
    assert probe(container, "livenessProbe") == ("/healthz", 9108)
    # the sync state is in Redis (tests/test_shared_state.py): nothing per pod to keep, replicas share work
    assert all("persistentVolumeClaim" not in v for v in pod_spec(worker)["volumes"])
    assert not [
        o for o in rendered() if o["kind"] == "PersistentVolumeClaim" and "worker" in o["metadata"]["name"]
    ]
    assert worker["spec"]["replicas"] == 2 and worker["spec"]["strategy"]["type"] == "RollingUpdate"


def test_api_listens_on_all_interfaces_with_probes() -> None:
    (container,) = containers(find("Deployment", "lore-api"))
    assert container["args"] == ["api", "--host", "0.0.0.0"]
    assert probe(container, "readinessProbe") == ("/healthz", 8788)


def test_redis_persists_an_append_only_file_behind_a_password() -> None:
    redis = find("StatefulSet", "redis")
    assert redis["spec"]["serviceName"] == find("Service", "redis")["metadata"]["name"]
    assert [t["metadata"]["name"] for t in redis["spec"]["volumeClaimTemplates"]] == ["data"]
    (container,) = containers(redis)
    assert container["image"].startswith("redis:7")
    args = container["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    assert {"mountPath": "/data", "name": "data"} in container["volumeMounts"]
    assert container["readinessProbe"]["exec"]["command"] == ["redis-cli", "ping"]


def test_secret_template_holds_placeholders_only() -> None:
    assert {s["metadata"]["name"] for s in secrets()} == {"lore", "lore-redis"}
    for item in secrets():
        assert item["kind"] == "Secret" and "data" not in item
        for name, value in item["stringData"].items():
            assert "REPLACE_ME" in value, name
            assert not TOKEN_LIKE.search(value), name
    assert "kubectl -n lore create secret generic lore" in (K8S / "secret.yaml").read_text()


def test_every_lore_deployment_runs_the_same_image() -> None:
    deployments = [o for o in rendered() if o["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {"lore-bot", "lore-worker", "lore-api"}
    assert {c["image"] for d in deployments for c in containers(d)} == {LORE_IMAGE}


def references(obj: dict[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    """(kind, name, key or None) of every ConfigMap and Secret a workload's containers read."""
    for container in containers(obj):
        for source in container.get("envFrom", []):
            for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if field in source:
                    yield kind, source[field]["name"], None
        for var in container.get("env", []):
            ref = var.get("valueFrom", {})
            for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if field in ref:
                    yield kind, ref[field]["name"], ref[field]["key"]


def test_every_config_and_secret_reference_exists() -> None:
    workloads = [o for o in rendered() if o["kind"] in {"Deployment", "StatefulSet"}]
    found = list(rendered()) + list(secrets())
    refs = [ref for w in workloads for ref in references(w)]
    assert ("Secret", "lore", None) in refs and ("ConfigMap", "lore", None) in refs
    for kind, name, key in refs:
        (target,) = [o for o in found if o["kind"] == kind and o["metadata"]["name"] == name]
        if key is not None:
            assert key in target.get("data", {}) | target.get("stringData", {}), (kind, name, key)


def test_qdrant_values_make_a_replicated_cluster_with_an_api_key() -> None:
    values = yaml.safe_load((K8S / "qdrant-values.yaml").read_text())
    assert values["replicaCount"] == 3
    assert values["config"]["cluster"]["enabled"] is True
    assert values["persistence"]["size"]
    assert values["image"]["tag"] == services()["qdrant"]["image"].split(":")[1]
    ref = values["apiKey"]["valueFrom"]["secretKeyRef"]
    assert ref["key"] in secret(ref["name"])["stringData"]
    assert find("ConfigMap", "lore")["data"]["LORE_QDRANT_URL"] == "http://qdrant:6333"
    assert find("ConfigMap", "lore")["data"]["LORE_QDRANT_REPLICATION"] == "2"


# ---- settings named anywhere are real settings -----------------------------------------------------------


def env_example_names() -> list[str]:
    text = (ROOT / ".env.example").read_text()
    return re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, re.M)


def test_env_example_sets_nothing_but_names_the_secrets() -> None:
    names = env_example_names()
    assert {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "LORE_LLM_API_KEY"} <= set(names)
    for line in (ROOT / ".env.example").read_text().splitlines():
        assert not line.strip() or line.startswith("#"), f"uncommented in .env.example: {line}"


def configmap_names() -> list[str]:
    return list(find("ConfigMap", "lore")["data"])


def compose_names() -> list[str]:
    return [name for name, _ in compose_environment()]


def secret_names() -> list[str]:
    return list(secret("lore")["stringData"])


@pytest.mark.parametrize("names", [configmap_names, compose_names, env_example_names, secret_names])
def test_named_settings_exist(names: Callable[[], list[str]]) -> None:
    assert names()
    unknown = sorted(set(names()) - SETTINGS)
    assert not unknown, f"{names.__name__}: no such setting: {unknown}"
