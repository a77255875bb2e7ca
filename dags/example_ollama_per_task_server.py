"""A per-task Ollama server on a GPU: start ``ollama serve``, pull the model, summarise, stop, in one task.

The task needs the ``ollama`` binary on its worker (``curl -fsSL https://ollama.com/install.sh | sh``, an
image built FROM ollama/ollama, or ``$OLLAMA_BINARY``) and a GPU. No connection and no shared server are
involved; the server lives on 127.0.0.1 for as long as the task runs and is stopped whatever happens.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.operators.server import OllamaServerOperator
from airflow_provider_ollama.server import LocalServer


def _gpu_pod_override() -> dict[str, Any]:
    """KubernetesExecutor: run this task in a pod that asks for one NVIDIA GPU on a GPU node.

    Other executors ignore ``executor_config``; without the kubernetes client there is nothing to build.
    """
    try:
        from kubernetes.client import models as k8s  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return {}
    pod = k8s.V1Pod(
        spec=k8s.V1PodSpec(
            containers=[
                k8s.V1Container(
                    # Airflow's task container is always called "base".
                    name="base",
                    # The device plugin mounts the GPU and sets CUDA_VISIBLE_DEVICES; memory for the model.
                    resources=k8s.V1ResourceRequirements(
                        limits={"nvidia.com/gpu": "1", "memory": "16Gi", "ephemeral-storage": "30Gi"}
                    ),
                )
            ],
            # GPU nodes are usually labelled and tainted; use your cluster's label and taint.
            node_selector={"nvidia.com/gpu.present": "true"},
            tolerations=[k8s.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")],
        )
    )
    return {"pod_override": pod}


def summarise_all(hook: OllamaHook, model: str, texts: list[str]) -> list[str]:
    """The work, while the server is up: one short summary per text (the return value becomes the XCom)."""
    summaries = []
    for text in texts:
        response = hook.generate(
            model,
            f"Summarise in one sentence:\n\n{text}",
            options={"temperature": 0.2, "num_predict": 64},
        )
        summaries.append((response.response or "").strip())
    return summaries


@dag(
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["ollama", "example", "gpu"],
    render_template_as_native_obj=True,
    params={
        "model": Param("llama3.2:1b", type="string", description="Model to pull and run on the task's GPU."),
        "texts": Param(
            [
                "Ollama runs open models locally and serves them over a small REST API.",
                "Airflow schedules batch work as DAGs of tasks that hand results to each other.",
            ],
            type="array",
        ),
    },
)
def example_ollama_per_task_server() -> None:
    summaries = OllamaServerOperator(
        task_id="summarise_on_gpu",
        server=LocalServer(
            # Every visible GPU (on Kubernetes: the pod's), and fail fast with a clear message if the
            # model does not land in GPU memory (no driver, no device, no request).
            gpus="all",
            require_gpu=True,
            # Keep the model loaded for the whole task, serve four requests at once, 8k context.
            keep_alive=-1,
            num_parallel=4,
            context_length=8192,
            flash_attention=True,
        ),
        models=["{{ params.model }}"],
        python_callable=summarise_all,
        op_kwargs={"model": "{{ params.model }}", "texts": "{{ params.texts }}"},
        # On timeout (or kill) the server and its model runners are stopped with the task.
        execution_timeout=timedelta(minutes=30),
        executor_config=_gpu_pod_override(),
    )

    @task
    def report(summaries: list[str]) -> dict[str, int]:
        """Downstream tasks read the summaries from XCom; the server is long gone by now."""
        return {"summaries": len(summaries), "characters": sum(len(summary) for summary in summaries)}

    report(summaries.output)


example_ollama_per_task_server()
