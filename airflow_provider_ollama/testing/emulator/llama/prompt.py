"""The prompt Ollama 0.33 sends to llama-server: a model's Go template applied to a request.

This follows Ollama's ``template.Execute``, ``chatPrompt`` and the generate handler: system messages are
gathered into ``.System``, consecutive messages of one role are merged, templates that range over
``.Messages`` get the conversation while older ``.Prompt``/``.Response`` templates are run once per
exchange and cut after ``.Response``; a chat that does not fit ``num_ctx`` loses its oldest messages
(never a system message or the last one); ``raw`` sends the prompt as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from airflow_provider_ollama.testing.emulator.llama.gotemplate import (
    Action,
    Command,
    Field,
    JSONText,
    Pipeline,
    Template,
    cut_after_response,
)

Message = Mapping[str, Any]
Tokenize = Callable[[str], Awaitable[list[int]]]


class PromptTemplate:
    """A model's TEMPLATE layer, parsed as Ollama parses it (``{{ .Response }}`` appended when absent)."""

    def __init__(self, source: str) -> None:
        self.template = Template(source)
        self.identifiers = self.template.identifiers()
        if "messages" not in self.identifiers and "response" not in self.identifiers:
            self.template.nodes.append(Action(Pipeline([Command([Field(["Response"])])])))

    @property
    def uses_messages(self) -> bool:
        return "messages" in self.identifiers

    def render(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        think: bool | str | None = None,
        suffix: str = "",
    ) -> str:
        """Ollama's ``Template.Execute`` for a conversation (or a prompt and ``suffix``, to fill in)."""
        flags = {
            "Think": bool(think) and think != "false",
            "ThinkLevel": think if isinstance(think, str) else "",
            "IsThinkSet": think is not None,
        }
        system, collated = _collate(messages)
        if suffix:
            prompt = next((m.get("content", "") for m in reversed(collated) if m.get("role") == "user"), "")
            return self.template.execute({"Prompt": prompt, "Suffix": suffix, "Response": "", **flags})
        if self.uses_messages:
            data = {
                "System": system,
                "Messages": [template_message(message) for message in collated],
                "Tools": [template_tool(tool) for tool in tools] or None,
                "Response": "",
                **flags,
            }
            return self.template.execute(data)
        return self._render_legacy(collated, flags)

    def _render_legacy(self, messages: Sequence[Message], flags: Mapping[str, Any]) -> str:
        """One execution per system/user/assistant exchange; the last one ends where the answer starts."""
        out: list[str] = []
        values = {"System": "", "Prompt": "", "Response": ""}

        def execute(template: Template) -> None:
            out.append(template.execute({**values, **flags}))
            values.update(System="", Prompt="", Response="")

        for message in messages:
            role, content = message.get("role"), str(message.get("content") or "")
            if role == "system":
                if values["Prompt"] or values["Response"]:
                    execute(self.template)
                values["System"] = content
            elif role == "user":
                if values["Response"]:
                    execute(self.template)
                values["Prompt"] = content
            elif role == "assistant":
                values["Response"] = content
        execute(cut_after_response(self.template))
        return "".join(out)


def _collate(messages: Sequence[Message]) -> tuple[str, list[dict[str, Any]]]:
    """All system texts joined, and the messages with consecutive same-role ones merged (not tools)."""
    systems: list[str] = []
    collated: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "system":
            systems.append(str(message.get("content") or ""))
        if collated and collated[-1].get("role") == role and role != "tool":
            collated[-1]["content"] = f"{collated[-1].get('content') or ''}\n\n{message.get('content') or ''}"
        else:
            collated.append(dict(message))
    return "\n\n".join(systems), collated


def template_message(message: Message) -> dict[str, Any]:
    """An API message as Ollama's templates see it (Go field names; arguments print as JSON)."""
    calls = []
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        calls.append(
            {
                "ID": call.get("id", ""),
                "Function": {
                    "Index": function.get("index", 0),
                    "Name": function.get("name", ""),
                    "Arguments": JSONText(function.get("arguments") or {}),
                },
            }
        )
    return {
        "Role": message.get("role", ""),
        "Content": message.get("content") or "",
        "Thinking": message.get("thinking") or "",
        # Go's nil slices: falsy in templates, null in json
        "Images": list(message.get("images") or ()) or None,
        "ToolCalls": calls or None,
        "ToolName": message.get("tool_name") or "",
        "ToolCallID": message.get("tool_call_id") or "",
    }


def template_tool(tool: Mapping[str, Any]) -> JSONText:
    """A tool as Ollama's templates see it: Go field names, printed as the tool's JSON (Go field order)."""
    function = dict(tool.get("function") or {})
    parameters = dict(function.get("parameters") or {})
    shaped_parameters: dict[str, Any] = {"type": parameters.get("type", "")}
    for key in ("$defs", "items", "required"):
        if parameters.get(key):
            shaped_parameters[key] = parameters[key]
    shaped_parameters["properties"] = parameters.get("properties") or {}
    shaped: dict[str, Any] = {"type": tool.get("type", "function")}
    if tool.get("items") is not None:
        shaped["items"] = tool["items"]
    shaped["function"] = {
        "name": function.get("name", ""),
        "description": function.get("description", ""),
        "parameters": shaped_parameters,
    }
    return GoView(shaped)


class GoView(JSONText):
    """A JSON-printing map that answers Go field names too: ``.Function.Name`` reads ``function.name``."""

    def get(self, key: str, default: Any = None) -> Any:
        value = super().get(key, default) if key in self else super().get(key[:1].lower() + key[1:], default)
        if isinstance(value, Mapping) and not isinstance(value, GoView):
            return GoView(value)
        return value


def generate_messages(
    prompt: str,
    *,
    system: str = "",
    model_system: str = "",
    model_messages: Sequence[Message] = (),
    images: Sequence[Any] = (),
    with_context: bool = False,
) -> list[dict[str, Any]]:
    """The conversation Ollama's generate handler renders for a (non-raw) prompt."""
    messages: list[dict[str, Any]] = []
    if system or model_system:
        messages.append({"role": "system", "content": system or model_system})
    if not with_context:
        messages.extend(dict(message) for message in model_messages)
    user: dict[str, Any] = {"role": "user", "content": prompt}
    if images:
        user["images"] = list(images)
    messages.append(user)
    return messages


def chat_messages(
    messages: Sequence[Message], *, model_system: str = "", model_messages: Sequence[Message] = ()
) -> list[dict[str, Any]]:
    """The conversation Ollama's chat handler renders: the model's messages, then the request's, and
    the model's system prompt first unless the request starts with its own."""
    merged = [dict(message) for message in (*model_messages, *messages)]
    if model_system and (not messages or messages[0].get("role") != "system"):
        merged.insert(0, {"role": "system", "content": model_system})
    return merged


async def fitted_prompt(
    template: PromptTemplate,
    messages: Sequence[Message],
    *,
    num_ctx: int,
    tokenize: Tokenize,
    tools: Sequence[Mapping[str, Any]] = (),
    think: bool | str | None = None,
    truncate: bool = True,
) -> str:
    """Ollama's ``chatPrompt``: drop the oldest messages until the rendered prompt fits ``num_ctx``,
    keeping every system message and always the last message."""
    start = 0
    kept_systems: list[Message] = []
    if truncate:
        for start in range(len(messages)):
            kept_systems = [message for message in messages[:start] if message.get("role") == "system"]
            rendered = template.render([*kept_systems, *messages[start:]], tools=tools, think=think)
            if len(await tokenize(rendered)) <= num_ctx:
                break
    return template.render([*kept_systems, *messages[start:]], tools=tools, think=think)
