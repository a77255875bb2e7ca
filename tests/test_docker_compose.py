"""docker-compose.yaml is a valid Compose file that wires Airflow, Ollama (GPU or CPU) and MinIO together.

No Docker engine runs here, so validity is checked with the compose-spec JSON schema and with
``docker-compose config`` (which parses, interpolates and merges without an engine).
"""

from __future__ import annotations

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
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


def _require(command: str, install_hint: str) -> str:
    path = shutil.which(command) or shutil.which(command, path=str(Path(sys.executable).parent))
    if path is None:
        pytest.fail(f"{command} is needed for this test: {install_hint}")
    return path


def _resolved(*profiles: str) -> dict[str, Any]:
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
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
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
    }


def test_minio_bucket_is_created_before_airflow_starts() -> None:
    services = _resolved("cpu")["services"]
    assert "mc mb --ignore-existing local/ollama-models" in " ".join(services["minio-init"]["entrypoint"])
    depends = services["airflow-scheduler"]["depends_on"]
    assert depends["minio-init"]["condition"] == "service_completed_successfully"
    assert depends["postgres"]["condition"] == "service_healthy"
