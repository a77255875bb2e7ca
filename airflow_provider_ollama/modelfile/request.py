"""ModelfileSpec -> the JSON body of Ollama's current ``/api/create``, once local files are blobs.

The caller uploads every path of ``spec.local_files()`` as a blob first (the hook does that, skipping
blobs the server has) and passes the digests; this module only maps fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict

from airflow_provider_ollama.modelfile.paths import files_to_upload
from airflow_provider_ollama.modelfile.spec import ModelfileSpec
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import normalize_digest


class _MessageBody(TypedDict):
    role: str
    content: str


# Functional form: "from" is a Python keyword.
CreateRequestBody = TypedDict(
    "CreateRequestBody",
    {
        "model": str,
        "from": str,
        "files": dict[str, str],
        "adapters": dict[str, str],
        "draft_files": dict[str, str],
        "template": str,
        "system": str,
        "license": list[str],
        "parameters": dict[str, object],
        "messages": list[_MessageBody],
        "requires": str,
        "renderer": str,
        "parser": str,
    },
    total=False,
)


def to_create_request(
    spec: ModelfileSpec, *, model: str, blob_digests: Mapping[Path, str]
) -> CreateRequestBody:
    """The ``/api/create`` body creating ``model`` from ``spec``.

    :param model: the name of the model to create (checked with Ollama's naming rules).
    :param blob_digests: the ``sha256:...`` digest of every path in ``spec.local_files()``.
    :raises ValueError: a bad model name or digest, or a local file without a digest.
    """
    ModelName.parse(model)
    body: CreateRequestBody = {"model": model}
    if spec.from_model is not None:
        body["from"] = spec.from_model
    missing: list[Path] = []
    for key, sources in (
        ("files", spec.from_files),
        ("adapters", spec.adapters),
        ("draft_files", spec.draft_files),
    ):
        named: dict[str, str] = {}
        for source in sources:
            for path, name in files_to_upload(source).items():
                if path in blob_digests:
                    named[name] = normalize_digest(blob_digests[path])
                else:
                    missing.append(path)
        if named:
            body[key] = named  # type: ignore[literal-required]
    if missing:
        raise ValueError(
            f"no blob digest for {', '.join(map(str, missing))}: upload every path of spec.local_files() "
            "as a blob and pass its digest in blob_digests"
        )
    for key, text in (
        ("template", spec.template),
        ("system", spec.system),
        ("requires", spec.requires),
        ("renderer", spec.renderer),
        ("parser", spec.parser),
    ):
        if text is not None:
            body[key] = text  # type: ignore[literal-required]
    if spec.license:
        body["license"] = list(spec.license)
    if spec.parameters:
        body["parameters"] = {
            name: list(value) if isinstance(value, list) else value for name, value in spec.parameters.items()
        }
    if spec.messages:
        body["messages"] = [{"role": message.role, "content": message.content} for message in spec.messages]
    return body
