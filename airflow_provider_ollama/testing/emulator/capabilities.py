"""What a model can do, decided the way Ollama 0.33 decides it, for ``/api/show`` and ``/api/tags``.

Ollama computes capabilities in two places with different rules, and clients see both:

* ``Model.Capabilities`` (server/images.go), used by ``/api/show`` and by every capability check of
  generate and chat: the config's list, then the GGUF (its chat template's tools/thinking when the
  model chats natively, embedding or completion, vision, audio), then the Go TEMPLATE's variables
  when that template is the one in use, the parser's, and gpt-oss's thinking.
* ``buildModelListSummary`` (server/model_list_cache.go), used by ``/api/tags``: the GGUF header up
  to the tokenizer keys (vision, audio, then embedding or completion), the config's list, the
  template's variables, and vision for a projector layer.

A model chats "natively" (llama-server renders the GGUF's own chat template) unless it has a
renderer or parser, is gpt-oss with a harmony template, or has a Go TEMPLATE layer that wins over the
GGUF's chat template (``chatModeForModel``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_ollama.testing.emulator.llama.gotemplate import TemplateError, split_actions

#: Parsers built into Ollama 0.33 (model/parsers) and whether each parses tool calls and thinking.
BUILTIN_PARSERS: dict[str, tuple[bool, bool]] = {
    "harmony": (True, True),
    "qwen3": (True, True),
    "qwen3-coder": (True, False),
    "qwen3-thinking": (True, True),
    "qwen3vl-instruct": (True, False),
    "qwen3vl-thinking": (True, True),
    "cogito": (True, True),
    "deepseek3": (True, True),
    "olmo3": (True, False),
    "olmo3-think": (False, True),
    "nemotron-3-nano": (True, True),
    "functiongemma": (True, False),
    "ministral": (True, True),
    "glm-4.7": (True, True),
    "gemma4": (True, True),
    "lfm2": (True, True),
    "laguna": (True, True),
}
_ACTION_RE = re.compile(r"{{(-\s)?(.*?)(\s-)?}}", re.DOTALL)
_FIELD_RE = re.compile(r"(?<![\w$)\]])\.([A-Za-z_]\w*)")
_OPENERS = ("if", "range", "with", "define", "block")


def template_vars(template: str) -> set[str]:
    """``Template.Vars``: the lower-cased field names the template's actions refer to (``.Tools``...)."""
    names: set[str] = set()
    for match in _ACTION_RE.finditer(template):
        action = match.group(2)
        if action.lstrip().startswith("/*"):
            continue
        names.update(name.lower() for name in _FIELD_RE.findall(action))
    return names


@dataclass
class _Node:
    """A node of a parsed template: literal text, an action, or a block with its body lists."""

    kind: str  # "text", "action" or the block keyword
    text: str = ""
    lists: list[list[_Node]] | None = None


def _parse_template(template: str) -> list[_Node]:
    """Text and actions nested into blocks (``if``/``range``/... ``else`` ... ``end``), with Go's trim
    markers applied and whitespace-free empty texts dropped, as ``text/template/parse`` builds them."""
    tokens = [(kind, text) for kind, text, _line in split_actions(template)]
    root: list[_Node] = []
    stack: list[tuple[_Node, list[_Node]]] = []
    current = root
    for kind, text in tokens:
        parts = text.split(None, 1)
        word = parts[0] if parts else ""
        if kind == "text" or text.startswith("/*"):
            if kind == "text":
                current.append(_Node("text", text))
            continue
        if word in _OPENERS:
            block = _Node(word, text, lists=[[]])
            current.append(block)
            stack.append((block, current))
            assert block.lists is not None
            current = block.lists[0]
        elif word == "else" and stack:
            block = stack[-1][0]
            assert block.lists is not None
            block.lists.append([])
            current = block.lists[-1]
        elif word == "end" and stack:
            _, current = stack.pop()
        else:
            current.append(_Node("action", text))
    return root


def _infer_tags(nodes: list[_Node], ranges: list[_Node], tags: list[str]) -> None:
    """Walk like ``templateVisit``; a ``.Thinking`` field under a ``range .Messages`` takes the tags
    from the first and last text of the nearest list, as ``InferTags`` does."""
    for node in nodes:
        mentions = re.search(r"(?<![\w$)\]])\.Thinking\b", node.text) is not None
        if mentions and node.kind != "text" and ranges and ".Messages" in ranges[-1].text:
            if nodes[0].kind == "text":
                tags[0] = nodes[0].text.strip()
            if nodes[-1].kind == "text":
                tags[1] = nodes[-1].text.strip()
        for body in node.lists or []:
            _infer_tags(body, [*ranges, node] if node.kind == "range" else ranges, tags)


def infers_thinking_tags(template: str) -> bool:
    """Whether ``thinking.InferTags`` finds an opening and a closing tag in the template."""
    tags = ["", ""]
    try:
        nodes = _parse_template(template)
    except TemplateError:
        return False  # a template Go cannot parse infers no tags
    _infer_tags(nodes, [], tags)
    return bool(tags[0] and tags[1])


def go_template_capabilities(template: str | None) -> list[str]:
    """``goTemplateCapabilities``: tools, insert and thinking from the template's variables."""
    if not template:
        return []
    variables = template_vars(template)
    capabilities: list[str] = []
    if "tools" in variables:
        capabilities.append("tools")
    if "suffix" in variables:
        capabilities.append("insert")
    if infers_thinking_tags(template):
        capabilities.append("thinking")
    return capabilities


def chat_template_capabilities(chat_template: str) -> list[str]:
    """``chatTemplateCapabilities``: tools and thinking from a GGUF Jinja chat template's text."""
    if not chat_template:
        return []
    capabilities: list[str] = []
    if "tools" in chat_template or "tool_call" in chat_template:
        capabilities.append("tools")
    splits_thinking = (
        "content.split('</think>')" in chat_template or 'content.split("</think>")' in chat_template
    )
    if ("<think>" in chat_template and "</think>" in chat_template) or (
        splits_thinking and "reasoning_content" not in chat_template and "<SPECIAL_12>" not in chat_template
    ):
        capabilities.append("thinking")
    return capabilities


@dataclass(frozen=True)
class ModelTraits:
    """What the capability rules read from a model: its config, GGUF header, template and layers."""

    config: Mapping[str, Any]
    gguf: Mapping[str, Any]
    #: The Go TEMPLATE layer's text, or None when the model has no template layer.
    go_template: str | None
    has_model_layer: bool
    projector_count: int

    @property
    def architecture(self) -> str:
        return str(self.gguf.get("general.architecture") or "")

    @property
    def chat_template(self) -> str:
        return str(self.gguf.get("tokenizer.chat_template") or "")

    @property
    def renderer(self) -> str:
        return str(self.config.get("renderer") or "")

    @property
    def parser(self) -> str:
        return str(self.config.get("parser") or "")

    @property
    def is_gguf(self) -> bool:
        return str(self.config.get("model_format") or "") in ("", "gguf")

    def uses_harmony(self) -> bool:
        family = str(self.config.get("model_family") or "")
        template = self.go_template or ""
        return family in ("gptoss", "gpt-oss") and "<|start|>" in template and "<|end|>" in template

    def prefers_chat_template(self) -> bool:
        """``shouldPreferChatTemplate`` for a model with both templates (and no renderer or parser)."""
        if self.go_template is None or not self.chat_template or self.renderer or self.parser:
            return False
        if self.uses_harmony():
            return False
        chat_caps = chat_template_capabilities(self.chat_template)
        go_caps = go_template_capabilities(self.go_template)
        if len(chat_caps) > len(go_caps):
            return not _go_tool_round_trip(self.go_template) or _chat_tool_round_trip(self.chat_template)
        if set(chat_caps) != set(go_caps) or "tools" not in chat_caps or "tools" not in go_caps:
            return False
        return _chat_tool_round_trip(self.chat_template) and not _go_tool_round_trip(self.go_template)

    def uses_go_template(self) -> bool:
        """``shouldUseGoTemplate`` (OLLAMA_GO_TEMPLATE left at its default)."""
        return self.go_template is not None and not self.prefers_chat_template()

    def rendered_by_ollama(self) -> bool:
        """``usesOllamaRenderedChat``: Ollama renders the prompt (else llama-server chats natively)."""
        return bool(self.renderer or self.parser or self.uses_harmony() or self.uses_go_template())


def _go_tool_round_trip(template: str) -> bool:
    variables = template_vars(template)
    if "tools" not in variables or "toolcalls" not in variables:
        return False
    return 'eq .Role "tool"' in template or "tool_response" in template or "TOOL_RESULTS" in template


def _chat_tool_round_trip(template: str) -> bool:
    if not ("tools" in template or "tool_call" in template):
        return False
    calls = "tool_calls" in template or "assistant_tool_call" in template
    markers = (
        "tool_response",
        "tool_results",
        "role'] == 'tool'",
        'role\'] == "tool"',
        "role\"] == 'tool'",
        'role"] == "tool"',
        "message.role == 'tool'",
        'message.role == "tool"',
        "ipython",
    )
    return calls and any(marker in template for marker in markers)


def _append(capabilities: list[str], values: Iterable[str]) -> None:
    for value in values:
        if value and value not in capabilities:
            capabilities.append(value)


def model_capabilities(traits: ModelTraits) -> list[str]:
    """``Model.Capabilities`` (``/api/show`` and the checks of generate, chat and embed)."""
    capabilities: list[str] = []
    _append(capabilities, (str(value) for value in traits.config.get("capabilities") or []))
    if traits.has_model_layer and traits.is_gguf and traits.gguf:
        arch = traits.architecture
        if not traits.rendered_by_ollama():
            _append(capabilities, chat_template_capabilities(traits.chat_template))
        _append(capabilities, ["embedding" if f"{arch}.pooling_type" in traits.gguf else "completion"])
        if f"{arch}.vision.block_count" in traits.gguf:
            _append(capabilities, ["vision"])
        if f"{arch}.audio.block_count" in traits.gguf:
            _append(capabilities, ["audio"])
    if traits.go_template is None or traits.uses_go_template():
        _append(capabilities, go_template_capabilities(traits.go_template))
    tools, thinking = BUILTIN_PARSERS.get(traits.parser, (False, False))
    _append(capabilities, (name for name, present in (("tools", tools), ("thinking", thinking)) if present))
    if str(traits.config.get("model_family") or "") in ("gptoss", "gpt-oss"):
        _append(capabilities, ["thinking"])
    return capabilities


def list_capabilities(traits: ModelTraits) -> list[str]:
    """``buildModelListSummary``'s capabilities (``/api/tags``)."""
    capabilities: list[str] = []
    remote = traits.config.get("remote_host") or traits.config.get("remote_model")
    if not remote and traits.has_model_layer and traits.gguf:
        arch = traits.architecture
        scanned = _header_before_tokenizer(traits.gguf)
        for key in scanned:
            if key == f"{arch}.vision.block_count":
                _append(capabilities, ["vision"])
            elif key == f"{arch}.audio.block_count":
                _append(capabilities, ["audio"])
        _append(capabilities, ["embedding" if f"{arch}.pooling_type" in scanned else "completion"])
    _append(capabilities, (str(value) for value in traits.config.get("capabilities") or []))
    template = traits.go_template if traits.go_template is not None else "{{ .Prompt }}"
    variables = template_vars(template)
    tools, thinking = BUILTIN_PARSERS.get(traits.parser, (False, False))
    if "tools" in variables or tools:
        _append(capabilities, ["tools"])
    if "suffix" in variables:
        _append(capabilities, ["insert"])
    family = str(traits.config.get("model_family") or "")
    if infers_thinking_tags(template) or family in ("gptoss", "gpt-oss") or thinking:
        _append(capabilities, ["thinking"])
    if traits.projector_count:
        _append(capabilities, ["vision"])
    return capabilities


def _header_before_tokenizer(gguf: Mapping[str, Any]) -> list[str]:
    """The keys ``readModelListGGUF`` looks at: it stops at the first ``tokenizer.`` key after the
    architecture (header order is insertion order here, as in the file)."""
    keys: list[str] = []
    seen_architecture = False
    for key in gguf:
        if key == "general.architecture":
            seen_architecture = True
        elif seen_architecture and key.startswith("tokenizer."):
            break
        keys.append(key)
    return keys
