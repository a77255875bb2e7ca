"""Pull only what a server lacks: the models a task needs before its work, whatever server it runs on."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.pulling.retry import PullRetryPolicy, pull_models_blocking

log = logging.getLogger(__name__)


def pull_missing_models(
    hook: OllamaHook, models: Sequence[str], *, insecure: bool = False, policy: PullRetryPolicy | None = None
) -> dict[str, str]:
    """Pull every model in ``models`` that ``hook``'s server lacks; return ``{name: digest}`` of those pulled.

    The pulls go through the pull engine like the pull operator's: stalls are cancelled and retried per
    ``policy`` (default :class:`PullRetryPolicy`), and the log gets a few progress lines per layer.
    """
    missing = []
    for model in models:
        if hook.has_model(model):
            log.info("Model %s is already on %s", model, hook.base_url)
        else:
            missing.append(model)
    if not missing:
        return {}
    pulled = pull_models_blocking(hook, missing, insecure=insecure, policy=policy, logger=log)
    return {result.model: result.digest for result in pulled}
