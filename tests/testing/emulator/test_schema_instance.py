"""Values built for JSON schemas conform to them (checked with jsonschema), deterministically."""

from __future__ import annotations

import enum
import random
from datetime import datetime
from typing import Any, Literal

import jsonschema
import pytest
from pydantic import BaseModel, Field

from airflow_provider_ollama.testing.emulator.schema_instance import UnsupportedSchemaError, schema_instance


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Address(BaseModel):
    street: str
    city: str = Field(min_length=2, max_length=20)
    postcode: str | None = None


class Person(BaseModel):
    name: str
    age: int = Field(ge=0, le=130)
    height_m: float = Field(gt=0.5, lt=2.5)
    colour: Colour
    kind: Literal["human"]
    tags: list[str] = Field(min_length=1, max_length=4)
    address: Address
    previous: list[Address] = []
    scores: dict[str, int] = {}
    born: datetime
    nickname: str | None = None


class Node(BaseModel):
    value: int
    children: list[Node] = []


SCHEMAS: dict[str, dict[str, Any]] = {
    "ollama docs example": {
        "type": "object",
        "properties": {"age": {"type": "integer"}, "available": {"type": "boolean"}},
        "required": ["age", "available"],
    },
    "scalars": {
        "type": "object",
        "properties": {
            "s": {"type": "string", "minLength": 30, "maxLength": 35},
            "short": {"type": "string", "maxLength": 3},
            "n": {"type": "number", "minimum": -1.5, "maximum": -1.25},
            "i": {"type": "integer", "exclusiveMinimum": 10, "exclusiveMaximum": 12},
            "m": {"type": "integer", "multipleOf": 7, "minimum": 1, "maximum": 20},
            "b": {"type": "boolean"},
            "z": {"type": "null"},
        },
        "required": ["s", "short", "n", "i", "m", "b", "z"],
        "additionalProperties": False,
    },
    "enum and const": {
        "type": "object",
        "properties": {"e": {"enum": ["a", "b", 3]}, "c": {"const": {"x": [1, 2]}}},
        "required": ["e", "c"],
    },
    "arrays": {
        "type": "object",
        "properties": {
            "exact": {"type": "array", "items": {"type": "integer"}, "minItems": 5, "maxItems": 5},
            "empty": {"type": "array", "items": {"type": "string"}, "maxItems": 0},
            "unique": {"type": "array", "items": {"type": "integer"}, "minItems": 3, "uniqueItems": True},
            "tuple": {
                "type": "array",
                "prefixItems": [{"type": "string"}, {"type": "number"}],
                "minItems": 2,
                "maxItems": 2,
            },
        },
        "required": ["exact", "empty", "unique", "tuple"],
    },
    "anyOf and oneOf": {
        "type": "object",
        "properties": {
            "either": {"anyOf": [{"type": "integer", "minimum": 5, "maximum": 4}, {"type": "string"}]},
            "one": {"oneOf": [{"type": "boolean"}, {"type": "string"}]},
            "nullable": {"type": ["string", "null"]},
        },
        "required": ["either", "one", "nullable"],
    },
    "allOf": {"allOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]}, {"required": ["b"]}]},
    "top-level array": {
        "type": "array",
        "items": {"type": "object", "properties": {"k": {"type": "string"}}},
    },
    "nested objects": {
        "type": "object",
        "properties": {
            "outer": {
                "type": "object",
                "properties": {"inner": {"type": "object", "properties": {"deep": {"type": "number"}}}},
                "required": ["inner"],
            }
        },
        "required": ["outer"],
    },
    "pydantic model": Person.model_json_schema(),
    "pydantic recursive model": Node.model_json_schema(),
}


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_instances_conform_to_their_schema(name: str) -> None:
    schema = SCHEMAS[name]
    for seed in range(25):
        jsonschema.validate(schema_instance(schema, random.Random(seed)), schema)


def test_pydantic_parses_the_instance_of_its_own_schema() -> None:
    value = schema_instance(Person.model_json_schema(), random.Random(7))
    person = Person.model_validate(value)
    assert person.kind == "human"
    assert 1 <= len(person.tags) <= 4


def test_same_random_state_gives_the_same_instance() -> None:
    schema = Person.model_json_schema()
    assert schema_instance(schema, random.Random(3)) == schema_instance(schema, random.Random(3))


def test_recursive_schema_ends() -> None:
    schema = {
        "$ref": "#/$defs/Loop",
        "$defs": {"Loop": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Loop"}}}},
    }
    jsonschema.validate(schema_instance(schema, random.Random(0)), schema)


def test_unresolvable_reference_is_reported() -> None:
    with pytest.raises(UnsupportedSchemaError, match="cannot resolve"):
        schema_instance({"$ref": "#/$defs/Missing"}, random.Random(0))
