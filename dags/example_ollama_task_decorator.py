"""``@task.ollama``: TaskFlow functions that receive a ready ``OllamaHook`` as their first argument.

The first task runs on a per-task server (started, model pulled, stopped by the decorator; the worker
needs the ``ollama`` binary). The second runs on the shared server of the ``ollama_default`` connection
and is ``async``: its requests go out together.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.server import LocalServer


@dag(
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["ollama", "example"],
    params={
        "model": Param("llama3.2:1b", type="string"),
        "topic": Param("the tides", type="string"),
    },
)
def example_ollama_task_decorator() -> None:
    @task.ollama(
        server=LocalServer(num_parallel=2),
        models=["{{ params.model }}"],
    )
    def draft_questions(hook: OllamaHook, topic: str, params: dict[str, Any]) -> list[str]:
        """By the time this runs, the server answers and the model is on it; afterwards it is stopped."""
        reply = hook.generate(
            params["model"],
            f"Write three short quiz questions about {topic}, one per line.",
            options={"num_predict": 96},
        )
        text = reply.response or ""
        questions = [line.strip(" -*0123456789.").strip() for line in text.splitlines()]
        return [question for question in questions if question][:3] or [text]

    @task.ollama(models=["{{ params.model }}"])
    async def answer_questions(
        hook: OllamaHook, questions: list[str], params: dict[str, Any]
    ) -> list[dict[str, str]]:
        """On the shared server (server="shared" is the default): all questions at once."""
        replies = await asyncio.gather(
            *(
                hook.agenerate(params["model"], question, options={"num_predict": 64})
                for question in questions
            )
        )
        return [
            {"question": question, "answer": reply.response or ""}
            for question, reply in zip(questions, replies, strict=True)
        ]

    answer_questions(draft_questions(topic="{{ params.topic }}"))


example_ollama_task_decorator()
