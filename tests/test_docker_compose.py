"""docker-compose.yaml is a valid Compose file that wires Airflow on Celery, Ollama (GPU or CPU) and MinIO together.

No Docker engine runs here, so validity is checked with the compose-spec JSON schema and with
``docker-compose config`` (which parses, interpolates and merges without an engine).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.dag_runs import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-worker-gpu",
)
WORKERS = ("airflow-worker", "airflow-worker-gpu")
NVIDIA_GPUS = [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]


def _require(command: str, install_hint: str) -> str:
    path = shutil.which(command) or shutil.which(command, path=str(Path(sys.executable).parent))
    if path is None:
        pytest.fail(f"{command} is needed for this test: {install_hint}")
    return path


@functools.cache
def _resolved(*profiles: str) -> dict[str, Any]:
    """The file as ``docker-compose config`` resolves it (parsed once per profile; tests only read it)."""
    docker_compose = _require(
        "docker-compose", "apt-get install -y --no-install-recommends docker-compose (Debian)"
    )
    args = [docker_compose, "-f", str(COMPOSE_FILE)]
    for profile in profiles:
        args += ["--profile", profile]
    completed = subprocess.run([*args, "config"], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    document: dict[str, Any] = yaml.safe_load(completed.stdout)
    return document


def _active(profile: str) -> dict[str, Any]:
    """The services ``docker compose --profile <profile> up`` starts (docker-compose 1.29's ``config``
    lists every service, so the profile filter is applied here)."""
    services: dict[str, Any] = _resolved(profile)["services"]
    return {name: spec for name, spec in services.items() if profile in spec.get("profiles", [profile])}


def test_compose_file_validates_against_the_compose_spec_schema() -> None:
    check = _require("check-jsonschema", "pip install check-jsonschema (in the dev extra)")
    completed = subprocess.run(
        [check, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_docker_compose_config_accepts_the_file_quietly() -> None:
    docker_compose = _require(
        "docker-compose", "apt-get install -y --no-install-recommends docker-compose (Debian)"
    )
    completed = subprocess.run(
        [docker_compose, "-f", str(COMPOSE_FILE), "config", "-q"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""


def test_gpu_profile_reserves_an_nvidia_gpu_and_cpu_profile_does_not() -> None:
    gpu = _resolved("gpu")["services"]["ollama"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == NVIDIA_GPUS
    cpu = _resolved("cpu")["services"]["ollama-cpu"]
    assert "deploy" not in cpu
    for service in (gpu, cpu):
        assert service["networks"]["default"]["aliases"] == ["ollama"]
        assert any("/root/.ollama" in str(volume) for volume in service["volumes"])


def test_every_airflow_service_gets_the_provider_dags_and_preset_connections() -> None:
    services = _resolved("cpu")["services"]
    for name in AIRFLOW_SERVICES:
        service = services[name]
        environment = service["environment"]
        ollama = json.loads(environment["AIRFLOW_CONN_OLLAMA_DEFAULT"])
        assert ollama["conn_type"] == "ollama"
        assert ollama["host"] == "http://ollama"
        aws = json.loads(environment["AIRFLOW_CONN_AWS_DEFAULT"])
        assert aws["extra"]["endpoint_url"] == "http://minio:9000"
        assert "/opt/airflow-provider-ollama" in environment["_PIP_ADDITIONAL_REQUIREMENTS"]
        assert any("/opt/airflow/dags" in str(volume) for volume in service["volumes"])
    commands = {name: services[name]["command"] for name in AIRFLOW_SERVICES}
    assert commands == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
        "airflow-worker": "celery worker --queues default",
        "airflow-worker-gpu": "celery worker --queues gpu",
    }


def test_airflow_runs_on_celery_with_redis_as_broker_and_postgres_for_results() -> None:
    services = _resolved("gpu")["services"]
    for name in AIRFLOW_SERVICES:
        environment = services[name]["environment"]
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert environment["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:@redis:6379/")
        assert environment["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "redis-cli" in services["redis"]["healthcheck"]["test"]
    assert "profiles" not in services["redis"]


def test_the_gpu_worker_takes_the_gpu_queue_on_reserved_nvidia_gpus() -> None:
    services = _resolved("gpu")["services"]
    gpu_worker, worker = services["airflow-worker-gpu"], services["airflow-worker"]
    assert gpu_worker["profiles"] == ["gpu"]
    assert gpu_worker["deploy"]["resources"]["reservations"]["devices"] == NVIDIA_GPUS
    assert "deploy" not in worker
    for name in WORKERS:
        service = services[name]
        environment = service["environment"]
        # Per-task servers: the ollama binary from the shared volume, and a host blob cache per worker.
        assert environment["OLLAMA_BINARY"] == "/opt/ollama/bin/ollama"
        cache_dir = environment["AIRFLOW__OLLAMA__HOST_BLOB_CACHE_DIR"]
        volumes = [str(volume) for volume in service["volumes"]]
        assert any(volume.startswith("ollama-binary:/opt/ollama") for volume in volumes)
        assert any(volume.endswith(f":{cache_dir}:rw") for volume in volumes)
        assert service["depends_on"]["worker-setup"]["condition"] == "service_completed_successfully"
        # Warm shutdown: SIGTERM goes to the Celery process only, so running tasks finish.
        assert environment["DUMB_INIT_SETSID"] == "0"
        assert "inspect ping" in " ".join(service["healthcheck"]["test"])
    caches = {
        next(str(v).split(":")[0] for v in services[name]["volumes"] if "blob-cache" in str(v))
        for name in WORKERS
    }
    assert len(caches) == 2, "each worker keeps a host blob cache of its own"
    setup = " ".join(services["worker-setup"]["entrypoint"])
    assert "chown 50000:0 /blob-caches/*" in setup
    assert "chmod 700 /blob-caches/*" in setup


def test_every_profile_starts_only_services_whose_dependencies_it_starts_too() -> None:
    for profile in ("cpu", "gpu"):
        active = _active(profile)
        for name, service in active.items():
            missing = set(service.get("depends_on", {})) - set(active)
            assert not missing, f"{profile} profile: {name} depends on {missing}, which it does not start"
    cpu = _active("cpu")
    # A laptop: a worker for the default queue, a CPU-only Ollama, and nothing that asks for a GPU.
    assert {"airflow-worker", "ollama-cpu", "redis"} <= set(cpu)
    assert "airflow-worker-gpu" not in cpu
    assert not [name for name, service in cpu.items() if "deploy" in service]


def test_minio_bucket_is_created_before_airflow_starts() -> None:
    services = _resolved("cpu")["services"]
    assert "mc mb --ignore-existing local/ollama-models" in " ".join(services["minio-init"]["entrypoint"])
    depends = services["airflow-scheduler"]["depends_on"]
    assert depends["minio-init"]["condition"] == "service_completed_successfully"
    assert depends["postgres"]["condition"] == "service_healthy"
