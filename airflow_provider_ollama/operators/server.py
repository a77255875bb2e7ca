"""``OllamaServerOperator``: make a server ready with its models, optionally run a callable against it.

Per task, it is the classic-operator way to do work while an ``ollama serve`` lives; on a shared server it
waits (deferrable), pulls what is missing, preloads, and reports what the server runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

from airflow.providers.common.compat.sdk import determine_kwargs
from airflow.sdk import Context

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.operators._checks import model_list
from airflow_provider_ollama.operators.base import BaseOllamaOperator
from airflow_provider_ollama.templating import require_rendered


class ServerFacts(TypedDict):
    """What :class:`OllamaServerOperator` returns when it has no callable (JSON-native)."""

    version: str
    #: Base URL without credentials (for a per-task server: where it was, now stopped).
    url: str
    #: Each requested model -> ``sha256:<hex>`` of the manifest the server lists for it.
    models: dict[str, str]


class OllamaServerOperator(BaseOllamaOperator):
    """Get a server ready with ``models``, then call ``python_callable(hook, **op_kwargs)`` or report facts.

    With ``server="local"`` (or a :class:`~airflow_provider_ollama.server.LocalServer`) the server lives
    for this task only: start, prepare models, call, stop. With ``server="shared"`` it waits for the
    connection's server (deferrable), pulls missing models and returns :class:`ServerFacts`. In both
    modes ``preload=True`` loads every model first (for the per-task server's ``keep_alive``, or the
    connection's), and the callable's return value, if there is a callable, becomes the XCom.

    The callable receives a ready :class:`OllamaHook` first, then ``op_kwargs``, then any context
    entries it names (``ti``, ``params``, ``ds``...), like ``PythonOperator``::

        def summarise(hook: OllamaHook, text: str) -> str:
            return hook.generate("llama3.2:1b", f"Summarise: {text}").response

        OllamaServerOperator(
            task_id="summarise",
            server="local",
            models=["llama3.2:1b"],
            python_callable=summarise,
            op_kwargs={"text": "{{ params.text }}"},
        )

    :param models: models to have on the server before the callable runs: restored from ``cache`` or
        pulled when missing (templated).
    :param python_callable: ``callable(hook, **op_kwargs)`` run while the server is up.
    :param op_kwargs: keyword arguments for it (templated).
    :param preload: load every model into memory before the callable runs.

    Other arguments: see :class:`BaseOllamaOperator`.
    """

    template_fields = (*BaseOllamaOperator.template_fields, "models", "op_kwargs")

    def __init__(
        self,
        *,
        models: Sequence[str] = (),
        python_callable: Callable[..., Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        preload: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.models = models
        self.op_kwargs = op_kwargs
        self.python_callable = python_callable
        self.preload = preload
        if python_callable is not None and not callable(python_callable):
            raise ValueError(f"{self.task_id}: python_callable must be callable, got {python_callable!r}")

    def models_to_prepare(self) -> list[str]:
        return model_list("models", self.models)

    def check_arguments(self) -> None:
        super().check_arguments()
        require_rendered("op_kwargs", self.op_kwargs)
        if self.op_kwargs is not None and not isinstance(self.op_kwargs, Mapping):
            raise TypeError(f"op_kwargs rendered to {type(self.op_kwargs).__name__}; it must be a dict")

    def run(self, context: Context, hook: OllamaHook) -> Any:
        models = self.models_to_prepare()
        if self.preload:
            for model in models:
                # For the server's keep_alive: a per-task server's own, or the connection's default.
                self.log.info("Loading %s into memory", model)
                hook.load(model)
        if self.python_callable is None:
            return self.server_facts(hook, models)
        call_kwargs = determine_kwargs(self.python_callable, [hook], {**context, **(self.op_kwargs or {})})
        return self.python_callable(hook, **call_kwargs)

    @staticmethod
    def server_facts(hook: OllamaHook, models: list[str]) -> ServerFacts:
        """Version, URL and the manifest digests of ``models`` on ``hook``'s server."""
        return ServerFacts(
            version=hook.version(),
            url=hook.base_url,
            models={model: hook.model_digest(model) for model in models},
        )
