"""Test DAG for ``@task.ollama``: a task on its own per-task server, an async and a mapped one on the shared one.

``task.ollama`` resolves through Airflow's provider registry (``get_provider_info``'s task-decorators).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_ollama.hooks.ollama import OllamaHook

SEEDED = {"seed": 7, "num_predict": 12}


@dag(
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    params={"model": ""},
)
def ollama_task_decorator() -> None:
    @task.ollama(server="local", models=["{{ params.model }}"])
    def on_its_own_server(hook: OllamaHook, topic: str, params: dict[str, Any], ti: Any) -> dict[str, Any]:
        answer = hook.generate(params["model"], f"Tell me about {topic}.", options=SEEDED)
        return {
            "url": hook.base_url,
            "models": sorted(str(entry.model) for entry in hook.list_models()),
            "answer": answer.response,
            "task_id": ti.task_id,
        }

    @task.ollama(models=["{{ params.model }}"])
    async def on_the_shared_server(hook: OllamaHook, prompts: list[str], params: dict[str, Any]) -> list[str]:
        answers = await asyncio.gather(
            *(hook.agenerate(params["model"], prompt, options=SEEDED) for prompt in prompts)
        )
        return [answer.response or "" for answer in answers]

    @task.ollama(models=["{{ params.model }}"])
    def one_word(hook: OllamaHook, word: str, params: dict[str, Any]) -> str:
        return hook.generate(params["model"], word, options=SEEDED).response or ""

    on_its_own_server("tides")
    on_the_shared_server(prompts=["First.", "Second.", "Third."])
    one_word.expand(word=["alpha", "beta"])


ollama_task_decorator()
