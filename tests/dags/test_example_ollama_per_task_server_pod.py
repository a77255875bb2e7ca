"""The pod the KubernetesExecutor would launch for the per-task server example: one GPU, on a GPU node.

No cluster: the example DAG is parsed and serialized as the dag-processor does, read back as the scheduler
does, and its ``executor_config`` goes through the cncf.kubernetes provider's own pod generation, called
the way its KubernetesExecutor calls it (``_build_pod_request``), on the provider's default worker pod
template. What the test checks is what users copy from the example.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.dag_runs import REPO_ROOT

pytestmark = pytest.mark.airflow

EXAMPLE = REPO_ROOT / "dags" / "example_ollama_per_task_server.py"
DAG_ID = "example_ollama_per_task_server"
TASK_ID = "summarise_on_gpu"
IMAGE = "registry.example.com/airflow-with-ollama:3.3.2"


def _scheduler_side_executor_config() -> dict[str, Any]:
    """The task's executor_config after the round trip through the serialized DAG."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag = DagBag(dag_folder=str(EXAMPLE))
    assert not bag.import_errors, bag.import_errors
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(bag.dags[DAG_ID]))
    config: dict[str, Any] = serialized.get_task(TASK_ID).executor_config
    return config


def _executor_pod(pod_override: Any) -> Any:
    """The pod the KubernetesExecutor builds for try 1 of the task, with Airflow's default template."""
    import airflow.providers.cncf.kubernetes.kubernetes_executor_templates as templates
    from airflow.providers.cncf.kubernetes.executors.kubernetes_executor_utils import (
        get_base_pod_from_template,
    )
    from airflow.providers.cncf.kubernetes.kubernetes_helper_functions import create_unique_id
    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator

    template = Path(templates.__file__).with_name("basic_template.yaml")
    return PodGenerator.construct_pod(
        namespace="airflow",
        scheduler_job_id="7",
        pod_id=create_unique_id(DAG_ID, TASK_ID),
        dag_id=DAG_ID,
        task_id=TASK_ID,
        kube_image=IMAGE,
        try_number=1,
        map_index=-1,
        date=None,
        run_id="manual__2026-01-01T00:00:00+00:00",
        args=["python", "-m", "airflow.sdk.execution_time.execute_workload", "--json-string", "{}"],
        pod_override_object=pod_override,
        base_worker_pod=get_base_pod_from_template(str(template), None),
        with_mutation_hook=True,
    )


def test_the_per_task_server_task_runs_in_a_pod_with_one_gpu_on_a_gpu_node() -> None:
    from kubernetes.client import models as k8s

    config = _scheduler_side_executor_config()
    assert isinstance(config["pod_override"], k8s.V1Pod)

    pod = _executor_pod(config["pod_override"])

    # One container, Airflow's "base", with the executor's image and command and the example's requests.
    [base] = pod.spec.containers
    assert base.name == "base"
    assert base.image == IMAGE
    assert base.args[:3] == ["python", "-m", "airflow.sdk.execution_time.execute_workload"]
    assert base.resources.limits == {"nvidia.com/gpu": "1", "memory": "16Gi", "ephemeral-storage": "30Gi"}
    # Steered to a GPU node, and allowed on one that is tainted for GPU work only.
    assert pod.spec.node_selector == {"nvidia.com/gpu.present": "true"}
    assert [(t.key, t.operator, t.effect) for t in pod.spec.tolerations] == [
        ("nvidia.com/gpu", "Exists", "NoSchedule")
    ]
    # Still Airflow's pod: the template's settings and the labels the executor finds its pods by.
    assert pod.spec.restart_policy == "Never"
    assert {"name": "AIRFLOW_HOME", "value": "/opt/airflow"} in [
        {"name": variable.name, "value": variable.value} for variable in base.env
    ]
    assert pod.metadata.namespace == "airflow"
    assert pod.metadata.labels["dag_id"] == DAG_ID
    assert pod.metadata.labels["task_id"] == TASK_ID
    assert pod.metadata.labels["airflow-worker"] == "7"
