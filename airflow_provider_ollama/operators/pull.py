"""``OllamaPullOperator``: pull models onto a shared or per-task server, robustly, and return their digests.

Progress goes to the task log a few lines per layer; stalls and server errors are retried with backoff
(Ollama resumes partial downloads). With ``deferrable=True`` on a shared server the download is followed
from the triggerer, so no worker slot waits for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import Context

from airflow_provider_ollama.cache.settings import ModelCache
from airflow_provider_ollama.cache.supply import ModelSupply
from airflow_provider_ollama.exceptions import OllamaPullError
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.operators._checks import argument_errors, model_list
from airflow_provider_ollama.operators.base import CACHE_XCOM_KEY, BaseOllamaOperator
from airflow_provider_ollama.pulling.retry import PulledModel, PullRetryPolicy, pull_models_blocking
from airflow_provider_ollama.triggers.pull import OllamaPullTrigger, raise_for_pull_event

#: Deadline of a deferred pull when neither pull_timeout nor execution_timeout says one.
DEFAULT_DEFERRED_PULL_TIMEOUT_S = 12 * 3600.0
# The trigger reports its own deadline clearly; Airflow's deferral timeout only backs it up.
_DEFERRAL_BACKSTOP_S = 60.0


class OllamaPullOperator(BaseOllamaOperator):
    """Pull ``model`` (or each of ``models``) from its registry and return ``{model: digest}``.

    Every model is pulled, also when the server has it: a pull fetches the registry's current manifest
    and downloads only the blobs that changed, so this is also how a model is updated. The log shows each
    layer every tenth of its size or every ``progress_interval`` seconds (percent, MB/s, ETA) and a summary
    per model (size, time, rate, or "already up to date").

    A pull that shows no progress for ``stall_timeout`` seconds is cancelled and started again; so are
    pulls that fail with a server error. Ollama keeps what it downloaded, so a retry continues. After
    ``pull_retries`` retries the task fails with one :class:`~airflow_provider_ollama.exceptions.OllamaPullError`
    naming the model, the registry and the last cause. A name the registry does not know fails at once
    with :class:`~airflow_provider_ollama.exceptions.OllamaModelNotFoundError`.

    With ``cache="s3://bucket/prefix"`` a model the S3 model cache holds is restored from it instead of
    pulled (``ModelCache(..., policy="refresh")`` pulls anyway and overwrites the entry), and what is
    pulled is saved there; the return value stays ``{model: digest}`` and the cache's report goes to the
    XCom key ``ollama_cache``. On a shared server a restored model is rebuilt through the API, so its
    digest is the server's own, not the registry's (see docs/cache.md).

    ``deferrable=True`` with ``server="shared"``: the task hands the pull to
    :class:`~airflow_provider_ollama.triggers.pull.OllamaPullTrigger` and frees its worker slot until the
    server has the models. A per-task server (``server="local"``) lives on the worker, so that mode never
    defers; it suits a kept ``models_dir`` (warming a node's store).

    .. code-block:: python

        OllamaPullOperator(task_id="pull", model=["llama3.2:1b", "nomic-embed-text"], deferrable=True)

    :param model: the model to pull, or a list of models pulled in order (templated).
    :param stall_timeout: seconds without progress before a pull is cancelled and retried.
    :param pull_retries: retries per model after the first attempt.
    :param pull_retry_delay: seconds before the first retry; doubled for each further one.
    :param pull_timeout: seconds for all pulls together; default no limit on a worker (``execution_timeout``
        applies) and 12 h, or ``execution_timeout``, for a deferred pull.
    :param progress_interval: seconds between progress lines of a layer that has no new tenth done.
    :param insecure: send this pull with Ollama's ``insecure`` flag (plain HTTP); registries listed in
        Airflow's ``[ollama] insecure_registries`` get it without this.

    Other arguments: see :class:`~airflow_provider_ollama.operators.base.BaseOllamaOperator`.
    """

    template_fields: Sequence[str] = (*BaseOllamaOperator.template_fields, "model")
    #: Where a deferred pull resumes (the base class's ``execute_complete`` resumes a wait for the server).
    pull_resume_method = "execute_pull_complete"

    def __init__(
        self,
        *,
        model: str | Sequence[str],
        stall_timeout: float = 120.0,
        pull_retries: int = 3,
        pull_retry_delay: float = 5.0,
        pull_timeout: float | None = None,
        progress_interval: float = 10.0,
        insecure: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        task = self.task_id
        if pull_timeout is not None and pull_timeout <= 0:
            raise ValueError(f"{task}: pull_timeout must be positive (seconds), got {pull_timeout}")
        if progress_interval <= 0:
            raise ValueError(f"{task}: progress_interval must be positive (seconds), got {progress_interval}")
        try:
            self.policy = PullRetryPolicy(
                retries=pull_retries, retry_delay=pull_retry_delay, stall_timeout=stall_timeout
            )
        except ValueError as error:
            given = (
                f"pull_retries={pull_retries!r}, pull_retry_delay={pull_retry_delay!r}, "
                f"stall_timeout={stall_timeout!r}"
            )
            raise ValueError(f"{task}: {error} ({given})") from None
        self.insecure = insecure
        self.pull_timeout = pull_timeout
        self.progress_interval = progress_interval

    def models_to_prepare(self) -> list[str]:
        """Nothing to prepare: :meth:`run` pulls every model itself (with retries and progress)."""
        return []

    def check_arguments(self) -> None:
        super().check_arguments()
        self.models_to_pull()

    def models_to_pull(self) -> list[str]:
        """The rendered ``model``: one name or a list of them, checked against Ollama's naming rules."""
        with argument_errors(self.task_id):
            names = model_list("model", [self.model] if isinstance(self.model, str) else self.model)
            if not names:
                raise ValueError("model rendered to an empty list: name the model(s) to pull")
            return names

    def run(self, context: Context, hook: OllamaHook) -> dict[str, str]:
        supply = ModelSupply.from_settings(ModelCache.of(self.cache), insecure=self.insecure)
        server = self.local_server
        models_dir = server.models_dir if server is not None else None

        def pull(models: list[str]) -> list[PulledModel]:
            if self.deferrable and server is None:
                # Pushed now: XCom survives the deferral, and the resumed task adds the pulled digests.
                self.push_cache_report(context, supply.report)
                self._defer_pull(models)
            return self._pull_now(hook, models)

        # The cache supplies what it has (on a shared server, with a policy that writes, the worker first
        # copies a miss from the registry into S3); the rest is pulled here and saved right after.
        digests = supply.pull(hook, self.models_to_pull(), pull, models_dir=models_dir)
        self.push_cache_report(context, supply.report)
        return digests

    def execute_pull_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, str]:
        """Resume after the trigger followed the pulls: log their summaries, return the digests or raise.

        With a cache, models it supplied before the deferral are in the result too, and the cache's
        report pushed then is completed with the pulled digests.
        """
        finished = raise_for_pull_event(event)
        for line in finished["summaries"]:
            self.log.info("%s", line)
        with argument_errors(self.task_id):
            self.check_arguments()
        digests = finished["digests"]
        if ModelSupply.from_settings(ModelCache.of(self.cache)).cache is None:
            return digests
        self._add_digests_to_cache_report(context, digests)
        return {model: digests.get(model) or self.hook.model_digest(model) for model in self.models_to_pull()}

    def _add_digests_to_cache_report(self, context: Context, digests: dict[str, str]) -> None:
        ti = context["ti"]
        report = ti.xcom_pull(task_ids=ti.task_id, key=CACHE_XCOM_KEY, map_indexes=ti.map_index)
        if not isinstance(report, dict) or not isinstance(report.get("models"), dict):
            return
        for model, digest in digests.items():
            if isinstance(report["models"].get(model), dict):
                report["models"][model]["digest"] = digest
        self.push_cache_report(context, report)

    def _pull_now(self, hook: OllamaHook, models: list[str]) -> list[PulledModel]:
        try:
            return pull_models_blocking(
                hook,
                models,
                insecure=self.insecure,
                policy=self.policy,
                logger=self.log,
                progress_interval=self.progress_interval,
                timeout=self.pull_timeout,
            )
        except asyncio.TimeoutError:
            if self.pull_timeout is None:
                raise
            raise OllamaPullError(
                f"Pulling {', '.join(models)} through Ollama at {hook.base_url} did not finish within "
                f"pull_timeout={self.pull_timeout:g} s. Raise pull_timeout, or check the download speed above."
            ) from None

    def _defer_pull(self, models: list[str]) -> None:
        if self.pull_timeout is not None:
            budget = self.pull_timeout
        elif self.execution_timeout is not None:
            budget = self.execution_timeout.total_seconds()
        else:
            budget = DEFAULT_DEFERRED_PULL_TIMEOUT_S
        self.log.info(
            "Deferring: the triggerer follows the pull of %s for up to %.0f s", ", ".join(models), budget
        )
        self.defer(
            trigger=OllamaPullTrigger(
                self.ollama_conn_id,
                models=models,
                end_time=time.time() + budget,
                insecure=self.insecure,
                stall_timeout=self.policy.stall_timeout,
                retries=self.policy.retries,
                retry_delay=self.policy.retry_delay,
                progress_interval=self.progress_interval,
            ),
            method_name=self.pull_resume_method,
            timeout=timedelta(seconds=budget + _DEFERRAL_BACKSTOP_S),
        )
