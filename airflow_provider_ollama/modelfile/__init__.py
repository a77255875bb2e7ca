"""Modelfiles: parse and check them, render them, and turn them into Ollama's ``/api/create`` body.

Typical use: ``spec = parse_modelfile(text, base_dir=...)``, upload ``spec.local_files()`` as blobs,
then send ``to_create_request(spec, model=..., blob_digests=...)``.
"""

from __future__ import annotations

from airflow_provider_ollama.modelfile.errors import ModelfileError, ModelfileProblem
from airflow_provider_ollama.modelfile.parameters import (
    DEPRECATED_PARAMETERS,
    PARAMETER_TYPES,
    ParameterType,
    ParameterValue,
)
from airflow_provider_ollama.modelfile.parser import parse_modelfile
from airflow_provider_ollama.modelfile.renderer import render_modelfile
from airflow_provider_ollama.modelfile.request import CreateRequestBody, to_create_request
from airflow_provider_ollama.modelfile.spec import MESSAGE_ROLES, Message, ModelfileSpec
from airflow_provider_ollama.modelfile.structured import build_spec

__all__ = [
    "DEPRECATED_PARAMETERS",
    "MESSAGE_ROLES",
    "PARAMETER_TYPES",
    "CreateRequestBody",
    "Message",
    "ModelfileError",
    "ModelfileProblem",
    "ModelfileSpec",
    "ParameterType",
    "ParameterValue",
    "build_spec",
    "parse_modelfile",
    "render_modelfile",
    "to_create_request",
]
