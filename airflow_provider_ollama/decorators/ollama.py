"""``@task.ollama``: a TaskFlow function that runs with a ready ``OllamaHook`` as its first argument.

The TaskFlow face of :class:`~airflow_provider_ollama.operators.base.BaseOllamaOperator`: per-task server
started and models prepared (or the shared server checked), the function called, what was started stopped.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, ClassVar

from airflow.providers.common.compat.sdk import (
    DecoratedOperator,
    TaskDecorator,
    context_merge,
    determine_kwargs,
    task_decorator_factory,
)
from airflow.sdk import Context

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.operators._checks import model_list
from airflow_provider_ollama.operators.base import BaseOllamaOperator

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class _OllamaDecoratedOperator(DecoratedOperator, BaseOllamaOperator):
    """Runs the decorated function as :meth:`BaseOllamaOperator.run`: ``function(hook, *args, **kwargs)``.

    Airflow checks the call's arguments against the function's signature when the DAG is parsed; the
    hook is not one of them, so Airflow is shown the signature without its first parameter.
    """

    custom_operator_name = "@task.ollama"
    template_fields: Sequence[str] = (
        *DecoratedOperator.template_fields,
        *BaseOllamaOperator.template_fields,
        "models",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {**DecoratedOperator.template_fields_renderers}

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        models: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        self.ollama_callable = python_callable
        super().__init__(
            python_callable=_without_hook_parameter(python_callable),
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )
        self.models = models

    def models_to_prepare(self) -> list[str]:
        return model_list("models", self.models)

    def run(self, context: Context, hook: OllamaHook) -> Any:
        context_merge(context, self.op_kwargs)
        # Against the signature without the hook (Airflow 3.1's DecoratedOperator has no method for it).
        kwargs = determine_kwargs(self.python_callable, self.op_args, context)
        if inspect.iscoroutinefunction(self.ollama_callable):
            return asyncio.run(_call_async(self.ollama_callable, hook, self.op_args, kwargs))
        return self.ollama_callable(hook, *self.op_args, **kwargs)


def ollama_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """``@task.ollama``: run the function with a ready :class:`OllamaHook` as its first argument.

    The function's other arguments come from the call in the DAG, and Airflow context entries
    (``ti``, ``params``, ``ds``...) from its parameter names, as with ``@task``; its return value
    becomes the XCom. Decorator arguments: ``models`` (restored from ``cache`` or pulled before the
    function runs), those of :class:`BaseOllamaOperator` (``server``: ``"shared"``, ``"local"`` or a
    :class:`~airflow_provider_ollama.server.LocalServer` with the per-task server's settings;
    ``ollama_conn_id``, ``deferrable``, ``timeout``, ``cache``) and any ``BaseOperator`` argument.

    .. code-block:: python

        @task.ollama(server=LocalServer(num_parallel=4), models=["llama3.2:1b"])
        def summarise(hook: OllamaHook, text: str) -> str:
            return hook.generate("llama3.2:1b", f"Summarise: {text}").response

        summarise(text="...")

    ``async def`` functions run in an event loop of their own (use ``hook.agenerate`` and friends).
    """
    return task_decorator_factory(
        python_callable=python_callable,
        decorated_operator_class=_OllamaDecoratedOperator,
        **kwargs,
    )


def _without_hook_parameter(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as Airflow should see it when checking a call: without the hook parameter."""
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    if not parameters or parameters[0].kind not in _POSITIONAL:
        raise TypeError(
            f"@task.ollama function {function.__name__}() must take the OllamaHook as its first "
            f"parameter, e.g. def {function.__name__}(hook: OllamaHook, ...)"
        )

    @functools.wraps(function)
    def called_with_hook(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{function.__name__}() runs inside @task.ollama, which passes the hook")

    called_with_hook.__signature__ = signature.replace(parameters=parameters[1:])  # type: ignore[attr-defined]
    return called_with_hook


async def _call_async(
    function: Callable[..., Any], hook: OllamaHook, args: Collection[Any], kwargs: Mapping[str, Any]
) -> Any:
    try:
        return await function(hook, *args, **kwargs)
    finally:
        # The hook's async clients belong to this loop, which ends with the call.
        await hook.aclose()
