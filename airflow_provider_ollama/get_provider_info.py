"""Provider metadata that Airflow discovers through the ``apache_airflow_provider`` entry point.

Airflow reads it to list the provider, register the ``ollama`` connection type and draw its form
without importing the hook; it must stay cheap to import (no Airflow, no client).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_ollama import __version__
from airflow_provider_ollama.hooks._form import provider_info_connection_form

_PACKAGE = "airflow_provider_ollama"
_INTEGRATION = "Ollama"


def get_provider_info() -> dict[str, Any]:
    """The provider's description, checked against Airflow's ``provider_info.schema.json`` in the tests."""
    return {
        "package-name": "airflow-provider-ollama",
        "name": "Ollama",
        "description": (
            "Run open models through `Ollama <https://ollama.com/>`__ from Airflow: per-task or shared "
            "servers, pull, create and generate, and an S3 model cache."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://github.com/ollama/ollama/blob/main/docs/api.md",
                "tags": ["ai"],
            }
        ],
        "hooks": [
            {"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.hooks.ollama"]},
        ],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    f"{_PACKAGE}.operators.base",
                    f"{_PACKAGE}.operators.batch",
                    f"{_PACKAGE}.operators.server",
                    f"{_PACKAGE}.operators.pull",
                    f"{_PACKAGE}.operators.create",
                    f"{_PACKAGE}.operators.generate",
                    f"{_PACKAGE}.operators.chat",
                    f"{_PACKAGE}.operators.embed",
                ],
            },
        ],
        "sensors": [
            {"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.sensors.ollama"]},
        ],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [f"{_PACKAGE}.triggers.ollama", f"{_PACKAGE}.triggers.pull"],
            },
        ],
        # Airflow reads "class-name" at runtime (the JSON schema's "path" is not used).
        "task-decorators": [
            {"name": "ollama", "class-name": f"{_PACKAGE}.decorators.ollama.ollama_task"},
        ],
        "config": {
            "ollama": {
                "description": "The Ollama provider's settings for workers.",
                "options": {
                    "host_blob_cache_dir": {
                        "description": (
                            "Where a worker keeps its verified model blobs from the S3 model cache, "
                            "hard-linked into the stores of per-task servers (an operator's "
                            "ModelCache(host_blob_cache_dir=) takes precedence). See docs/cache.md."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/mnt/nvme/ollama-blob-cache",
                        # The same as cache.host_cache.DEFAULT_HOST_CACHE_DIR (not imported: it loads Airflow).
                        "default": "/var/tmp/ollama-blob-cache",  # noqa: S108
                    },
                    "insecure_registries": {
                        "description": (
                            "Registries that models may be pulled from (or pushed to) over plain HTTP, "
                            "comma separated, like Docker's insecure-registries: host:port, host (any "
                            "port) or a network such as 10.0.0.0/8. Pulls from them are sent with "
                            "Ollama's insecure flag by the hook, the operators, the deferred pull and "
                            "the S3 model cache. See docs/pull.md."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "127.0.0.1:5000, registry.lab:8080",
                        "default": "",
                    },
                },
            },
        },
        "connection-types": [
            {
                "connection-type": "ollama",
                "hook-class-name": f"{_PACKAGE}.hooks.ollama.OllamaHook",
                "hook-name": "Ollama",
                **provider_info_connection_form(),
            }
        ],
    }
