"""Build a JSON value that conforms to a JSON Schema, deterministically from a random source.

The emulator answers ``format: <schema>`` with such a value, the way a grammar-constrained model
answers with schema-shaped JSON: ordinary object schemas (pydantic's included) always conform.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_ollama.testing.emulator.words import WORDS

# Recursive schemas (a tree of nodes) stop growing below this depth: optional parts are left out
# and the smallest allowed arrays are built, so every schema with a finite instance gets one.
_MAX_DEPTH = 6
_DEFAULT_MAX_ITEMS = 3
_STRING_FORMATS = {
    "date-time": "2024-05-17T09:30:00Z",
    "date": "2024-05-17",
    "time": "09:30:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/item",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}


class UnsupportedSchemaError(ValueError):
    """The schema uses a construct this builder cannot satisfy (an unresolvable ``$ref``)."""


def schema_instance(schema: Any, rng: random.Random) -> Any:
    """A value valid against ``schema``; the same ``rng`` state always gives the same value."""
    return _Builder(schema, rng).build(schema, depth=0)


class _Builder:
    def __init__(self, root: Any, rng: random.Random) -> None:
        self._root = root
        self._rng = rng

    def build(self, schema: Any, depth: int) -> Any:
        if schema is True or schema is None or schema == {}:
            return self._words(1, 3)
        if schema is False or not isinstance(schema, Mapping):
            raise UnsupportedSchemaError(f"not a schema: {schema!r}")
        schema = self._merge_all_of(self._resolve(schema))
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][self._rng.randrange(len(schema["enum"]))]
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                return self._first_viable(schema[keyword], schema, depth)
        kind = self._pick_type(schema, depth)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._number(schema)
        if kind == "boolean":
            return self._rng.random() < 0.5
        if kind == "null":
            return None
        return self._string(schema)

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen: set[str] = set()
        while "$ref" in schema:
            ref = schema["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#") or ref in seen:
                raise UnsupportedSchemaError(f"cannot resolve $ref {ref!r}")
            seen.add(ref)
            target: Any = self._root
            for part in ref[1:].split("/")[1:]:
                key = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, Mapping) or key not in target:
                    raise UnsupportedSchemaError(f"cannot resolve $ref {ref!r}")
                target = target[key]
            siblings = {key: value for key, value in schema.items() if key != "$ref"}
            schema = {**target, **siblings} if isinstance(target, Mapping) else target
        return schema

    def _merge_all_of(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        if "allOf" not in schema:
            return schema
        merged: dict[str, Any] = {key: value for key, value in schema.items() if key != "allOf"}
        for part in schema["allOf"]:
            part = self._merge_all_of(self._resolve(part))
            for key, value in part.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    def _first_viable(self, options: Sequence[Any], parent: Mapping[str, Any], depth: int) -> Any:
        """The first option that builds; near the depth limit, ``null`` options win (they end recursion)."""
        siblings = {k: v for k, v in parent.items() if k not in ("anyOf", "oneOf")}
        ordered = list(options)
        if depth >= _MAX_DEPTH:
            ordered.sort(key=lambda option: 0 if _is_null_schema(option) else 1)
        for option in ordered:
            try:
                candidate = {**siblings, **option} if isinstance(option, Mapping) else option
                return self.build(candidate, depth)
            except (UnsupportedSchemaError, RecursionError):
                continue
        raise UnsupportedSchemaError("no anyOf/oneOf option can be satisfied")

    def _pick_type(self, schema: Mapping[str, Any], depth: int) -> str:
        declared = schema.get("type")
        if isinstance(declared, list):
            choices = [kind for kind in declared if kind != "null"] or ["null"]
            if depth >= _MAX_DEPTH and "null" in declared:
                return "null"
            return str(choices[0])
        if isinstance(declared, str):
            return declared
        if "properties" in schema or "additionalProperties" in schema or "required" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        if "minLength" in schema or "maxLength" in schema or "format" in schema:
            return "string"
        if any(key in schema for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
            return "number"
        return "string"

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        result: dict[str, Any] = {}
        for name, subschema in properties.items():
            if depth >= _MAX_DEPTH and name not in required:
                continue
            result[name] = self.build(subschema, depth + 1)
        for name in sorted(required - set(result)):
            result[name] = self._words(1, 2)
        extra = schema.get("additionalProperties")
        if not properties and isinstance(extra, Mapping) and depth < _MAX_DEPTH:
            count = max(int(schema.get("minProperties", 1)), 1)
            for index in range(count):
                result[f"{WORDS[self._rng.randrange(len(WORDS))]}_{index}"] = self.build(extra, depth + 1)
        return result

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        prefix: Sequence[Any] = schema.get("prefixItems", [])
        items = schema.get("items", {})
        if isinstance(items, list):  # the draft-04..07 spelling of prefixItems
            prefix, items = items, schema.get("additionalItems", {})
        low = max(int(schema.get("minItems", 0)), 0)
        upper = max(low, _DEFAULT_MAX_ITEMS)
        if "maxItems" in schema:
            upper = min(upper, int(schema["maxItems"]))
        if prefix and items is False:
            upper = min(upper, len(prefix))
        if upper < low:
            raise UnsupportedSchemaError("array bounds leave no length")
        count = low if depth >= _MAX_DEPTH else self._rng.randint(max(low, min(1, upper)), upper)
        result: list[Any] = []
        attempts = 0
        while len(result) < count and attempts < count * 8 + 8:
            attempts += 1
            index = len(result)
            subschema = prefix[index] if index < len(prefix) else items
            value = self.build(subschema, depth + 1)
            if schema.get("uniqueItems") and value in result:
                continue
            result.append(value)
        return result

    def _string(self, schema: Mapping[str, Any]) -> str:
        low = max(int(schema.get("minLength", 0)), 0)
        high = int(schema.get("maxLength", max(low, 40)))
        text = _STRING_FORMATS.get(str(schema.get("format", "")), "") or self._words(1, 4)
        while len(text) < low:
            text = f"{text} {self._words(1, 3)}"
        if len(text) > high:
            text = text[:high].rstrip() if high > 0 else ""
            text = text.ljust(min(low, high), "x")
        return text

    def _bounds(self, schema: Mapping[str, Any], integer: bool) -> tuple[float, float]:
        step = 1.0 if integer else 0.01
        low = float(schema.get("minimum", -math.inf))
        high = float(schema.get("maximum", math.inf))
        if "exclusiveMinimum" in schema:
            exclusive = schema["exclusiveMinimum"]
            if isinstance(exclusive, bool):  # draft-04: a flag on minimum
                low = low + step if exclusive else low
            else:
                low = max(low, float(exclusive) + step)
        if "exclusiveMaximum" in schema:
            exclusive = schema["exclusiveMaximum"]
            if isinstance(exclusive, bool):
                high = high - step if exclusive else high
            else:
                high = min(high, float(exclusive) - step)
        if math.isinf(low) and math.isinf(high):
            low, high = 0.0, 100.0
        elif math.isinf(low):
            low = high - 100.0
        elif math.isinf(high):
            high = low + 100.0
        if low > high:
            raise UnsupportedSchemaError("numeric bounds leave no value")
        return low, high

    def _integer(self, schema: Mapping[str, Any]) -> int:
        low, high = self._bounds(schema, integer=True)
        first, last = math.ceil(low), math.floor(high)
        multiple = schema.get("multipleOf")
        if isinstance(multiple, (int, float)) and multiple > 0:
            start = math.ceil(first / multiple)
            end = math.floor(last / multiple)
            if start > end:
                raise UnsupportedSchemaError("no multiple within bounds")
            return int(self._rng.randint(start, end) * multiple)
        if first > last:
            raise UnsupportedSchemaError("integer bounds leave no value")
        return self._rng.randint(first, last)

    def _number(self, schema: Mapping[str, Any]) -> float | int:
        multiple = schema.get("multipleOf")
        if isinstance(multiple, (int, float)) and multiple > 0:
            low, high = self._bounds(schema, integer=False)
            start, end = math.ceil(low / multiple), math.floor(high / multiple)
            if start > end:
                raise UnsupportedSchemaError("no multiple within bounds")
            value = self._rng.randint(start, end) * multiple
            return int(value) if float(value).is_integer() else value
        low, high = self._bounds(schema, integer=False)
        # Two decimals read like a model's answer; clamping keeps rounding inside the bounds.
        return min(max(round(self._rng.uniform(low, high), 2), low), high)

    def _words(self, low: int, high: int) -> str:
        count = self._rng.randint(low, high)
        return " ".join(WORDS[self._rng.randrange(len(WORDS))] for _ in range(count))


def _is_null_schema(option: Any) -> bool:
    return isinstance(option, Mapping) and option.get("type") == "null"
