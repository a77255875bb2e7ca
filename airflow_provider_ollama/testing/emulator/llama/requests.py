"""The ``/completion`` request body Ollama 0.33 sends to llama-server for a prompt, options and format.

Options a request leaves out take ``api.DefaultOptions()``; ``format`` "json" becomes Ollama's JSON
grammar and a schema is passed as ``json_schema`` (llama.cpp turns it into a grammar); ``num_predict``
-1 becomes a finite budget of ten contexts, as Ollama bounds open-ended generations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

#: ``api.DefaultOptions()`` for the options sent with each completion.
DEFAULT_OPTIONS: Mapping[str, Any] = {
    "num_predict": -1,
    "num_keep": 4,
    "temperature": 0.8,
    "top_k": 40,
    "top_p": 0.9,
    "min_p": 0.0,
    "typical_p": 1.0,
    "repeat_last_n": 64,
    "repeat_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "seed": -1,
    "stop": None,
}
OPEN_ENDED_CONTEXTS = 10

#: Ollama's grammar for ``format: "json"`` (any JSON object), in llama.cpp's GBNF.
JSON_GRAMMAR = r"""
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws
object ::=
  "{" ws (
         string ":" ws value
    ("," ws string ":" ws value)*
  )? ws "}"
array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? ws "]"
string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])
  )* "\""
number ::= ("-"? ([0-9] | [1-9] [0-9]*)) ("." [0-9]+)? ([eE] [-+]? [0-9]+)?
ws ::= ([ \t\n] ws)?
"""


class InvalidFormat(ValueError):
    """A ``format`` that is neither "json" nor a JSON schema object; the message is Ollama's."""


def bounded_num_predict(num_predict: int, num_ctx: int) -> int:
    """Ollama's budget: -1 (or more than ten contexts) becomes ten contexts."""
    limit = OPEN_ENDED_CONTEXTS * num_ctx
    if num_ctx <= 0:
        return num_predict
    return limit if num_predict < 0 or num_predict > limit else num_predict


def strict_objects(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` wherever an object leaves it unsaid.

    llama.cpp's GBNF converter (what Ollama's llama-server uses) admits no property a schema does not
    list; xllamacpp's wheel converts schemas with LLGuidance instead, which follows JSON Schema and
    admits extra ones. Saying it explicitly gives the answers Ollama's build gives."""
    if isinstance(schema, list):
        return [strict_objects(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict_objects(value) for key, value in schema.items()}
    is_object = result.get("type") == "object" or "properties" in result
    if is_object and "additionalProperties" not in result:
        result["additionalProperties"] = False
    return result


def completion_request(
    prompt: str | Sequence[int],
    options: Mapping[str, Any],
    *,
    num_ctx: int,
    format: Any = None,
    logprobs: bool = False,
    top_logprobs: int = 0,
) -> dict[str, Any]:
    """The body of Ollama's POST /completion for ``prompt`` with the request's merged ``options``."""
    merged = {**DEFAULT_OPTIONS, **{key: value for key, value in options.items() if value is not None}}
    body: dict[str, Any] = {
        "prompt": prompt,
        "stream": True,
        # Ollama sends true: llama-server then evaluates only what follows the prefix the slot holds from
        # the previous request. llama.cpp's numerics depend on how a prompt is split into batches, so at
        # temperature 0 an answer would depend on which request the slot served before (measured: the
        # flagship's second ticket answered differently when it happened to be served first). A test
        # server must give the same answer to the same request, so each prompt is evaluated whole.
        "cache_prompt": False,
        "n_predict": bounded_num_predict(int(merged["num_predict"]), num_ctx),
        "n_keep": int(merged["num_keep"]),
        "temperature": float(merged["temperature"]),
        "top_k": int(merged["top_k"]),
        "top_p": float(merged["top_p"]),
        "min_p": float(merged["min_p"]),
        "repeat_penalty": float(merged["repeat_penalty"]),
        "repeat_last_n": int(merged["repeat_last_n"]),
        "frequency_penalty": float(merged["frequency_penalty"]),
        "presence_penalty": float(merged["presence_penalty"]),
        "typical_p": float(merged["typical_p"]),
        "seed": int(merged["seed"]),
    }
    stops = merged.get("stop")
    if stops:
        body["stop"] = [stops] if isinstance(stops, str) else list(stops)
    if logprobs:
        body["n_probs"] = max(top_logprobs, 1)
    grammar = format_constraint(format)
    if grammar:
        body.update(grammar)
    return body


def format_constraint(format: Any) -> dict[str, Any]:
    """``{"grammar": ...}`` for "json", ``{"json_schema": ...}`` for a schema, ``{}`` for none."""
    if format is None or format == "" or format == "null":
        return {}
    if format == "json":
        return {"grammar": JSON_GRAMMAR}
    if isinstance(format, Mapping):
        return {"json_schema": strict_objects(dict(format))}
    raise InvalidFormat(
        f'invalid format: {json.dumps(format)!r}; expected "json" or a valid JSON Schema object'
    )
