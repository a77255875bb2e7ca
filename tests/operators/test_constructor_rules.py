"""Constructors only assign template fields: the rules Airflow checks on its own providers, on ours.

Airflow renders template fields after ``__init__``, so a constructor that parses, validates or transforms
one works on the unrendered Jinja text (or an XComArg). Airflow's CI enforces this on its providers with
an ``ast`` check; this test applies the same rules to every operator class of the package, the sensor and
the ``@task.ollama`` operator, and to the settings values whose fields are rendered too:

* each template field an ``__init__`` takes is stored as given (``self.field = field``, optionally
  ``field or default``) or forwarded as given (``super().__init__(field=field)``), unconditionally;
* no other statement of the constructor reads it, except ``field is None`` / ``field is not None``
  (whether it was given, which only the constructor can see);
* a field the class adds to ``template_fields`` is assigned by its own constructor.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import textwrap
from collections.abc import Iterator

import pytest
from airflow.sdk import BaseOperator

import airflow_provider_ollama
from airflow_provider_ollama.cache import ModelCache
from airflow_provider_ollama.server import LocalServer

# The emulator and the test helpers define no operators a DAG author uses.
_NOT_SCANNED = ("airflow_provider_ollama.testing",)
_EXPECTED = {
    "BaseOllamaOperator",
    "BaseOllamaBatchOperator",
    "OllamaGenerateOperator",
    "OllamaChatOperator",
    "OllamaEmbedOperator",
    "OllamaCreateOperator",
    "OllamaPullOperator",
    "OllamaServerOperator",
    "OllamaServerSensor",
    "_OllamaDecoratedOperator",
}


def _operator_classes() -> list[type[BaseOperator]]:
    for module in pkgutil.walk_packages(airflow_provider_ollama.__path__, "airflow_provider_ollama."):
        if not module.name.startswith(_NOT_SCANNED):
            importlib.import_module(module.name)
    found: dict[str, type[BaseOperator]] = {}
    pending: list[type] = [BaseOperator]
    while pending:
        subclass: type
        for subclass in pending.pop().__subclasses__():
            pending.append(subclass)
            if subclass.__module__.startswith(
                "airflow_provider_ollama."
            ) and not subclass.__module__.startswith(_NOT_SCANNED):
                found[subclass.__qualname__] = subclass
    return [found[name] for name in sorted(found)]


OPERATORS = _operator_classes()


def test_every_operator_the_package_offers_is_checked() -> None:
    assert {cls.__qualname__ for cls in OPERATORS} >= _EXPECTED


class _Constructor:
    """The ``__init__`` of one class, with the reads of template fields that the rules allow."""

    def __init__(self, cls: type, fields: set[str]) -> None:
        source = textwrap.dedent(inspect.getsource(cls.__dict__["__init__"]))
        node = ast.parse(source).body[0]
        assert isinstance(node, ast.FunctionDef)
        self.node: ast.FunctionDef = node
        arguments = self.node.args
        parameters = {arg.arg for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
        self.fields = fields
        self.parameters = parameters & fields
        self.allowed: set[int] = set()
        self.assigned: set[str] = set()
        self.problems: list[str] = []
        self._defaults = {
            id(n) for d in [*arguments.defaults, *arguments.kw_defaults] if d for n in ast.walk(d)
        }

    def check(self) -> list[str]:
        for statement in self.node.body:
            self._top_level(statement)
        for node in ast.walk(self.node):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                self._assignment(node)
            elif isinstance(node, ast.Compare) and _is_none_test(node):
                self.allowed.add(id(node.left))
        for node in ast.walk(self.node):
            field = self._field_read(node)
            if field is not None and id(node) not in self.allowed and id(node) not in self._defaults:
                line = getattr(node, "lineno", "?")
                self.problems.append(f"line {line}: reads {field} (do this after rendering)")
        return self.problems

    def _top_level(self, statement: ast.stmt) -> None:
        """Unconditional statements: where a field counts as stored or forwarded."""
        call = statement.value if isinstance(statement, ast.Expr) else None
        if isinstance(call, ast.Call) and _is_super_init(call):
            for keyword in call.keywords:
                if keyword.arg in self.fields:
                    if _stored_as_given(keyword.value, keyword.arg):
                        self.assigned.add(keyword.arg)
                        self._allow(keyword.value)
                    else:
                        self.problems.append(f"line {keyword.lineno}: forwards {keyword.arg} changed")
        elif isinstance(statement, ast.Assign | ast.AnnAssign):
            for target in statement.targets if isinstance(statement, ast.Assign) else [statement.target]:
                name = _self_attribute(target)
                if name in self.fields and _stored_as_given(statement.value, name):
                    self.assigned.add(name)

    def _assignment(self, node: ast.Assign | ast.AnnAssign) -> None:
        for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
            name = _self_attribute(target) or (target.id if isinstance(target, ast.Name) else None)
            if name not in self.fields:
                continue
            if _stored_as_given(node.value, name):
                self._allow(node.value)
            elif _self_attribute(target) is not None:
                self.problems.append(f"line {node.lineno}: self.{name} is not assigned as given")

    def _allow(self, value: ast.expr | None) -> None:
        if isinstance(value, ast.BoolOp):
            value = value.values[0]
        elif isinstance(value, ast.IfExp):
            for node in ast.walk(value.test):
                self.allowed.add(id(node))
            value = value.body
        if value is not None:
            self.allowed.add(id(value))

    def _field_read(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in self.parameters:
            return node.id
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            name = _self_attribute(node)
            if name in self.fields:
                return f"self.{name}"
        return None


def _self_attribute(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    return None


def _is_super_init(call: ast.Call) -> bool:
    function = call.func
    return (
        isinstance(function, ast.Attribute)
        and function.attr == "__init__"
        and isinstance(function.value, ast.Call)
        and isinstance(function.value.func, ast.Name)
        and function.value.func.id == "super"
    )


def _is_none_test(node: ast.Compare) -> bool:
    return (
        len(node.ops) == 1
        and isinstance(node.ops[0], ast.Is | ast.IsNot)
        and isinstance(node.comparators[0], ast.Constant)
        and node.comparators[0].value is None
    )


def _stored_as_given(value: ast.expr | None, field: str) -> bool:
    """``field``, ``field or default``, ``field if field else default`` or ``... is not None else ...``."""
    if isinstance(value, ast.BoolOp) and isinstance(value.op, ast.Or):
        value = value.values[0]
    elif isinstance(value, ast.IfExp):
        test = value.test
        tests_field = (isinstance(test, ast.Name) and test.id == field) or (
            isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name)
            and test.left.id == field
            and _is_none_test(test)
            and isinstance(test.ops[0], ast.IsNot)
        )
        if not tests_field:
            return False
        value = value.body
    return isinstance(value, ast.Name) and value.id == field


def _own_constructors() -> Iterator[type]:
    return (cls for cls in OPERATORS if "__init__" in vars(cls))


@pytest.mark.parametrize("cls", list(_own_constructors()), ids=lambda cls: cls.__qualname__)
def test_the_constructor_stores_template_fields_as_given_and_checks_nothing_about_them(cls: type) -> None:
    fields = set(cls.template_fields)  # type: ignore[attr-defined]
    constructor = _Constructor(cls, fields)
    problems = constructor.check()
    inherited = set().union(*(getattr(base, "template_fields", ()) for base in cls.__mro__[1:]))
    for field in sorted((constructor.parameters | (fields - inherited)) - constructor.assigned):
        problems.append(f"{field} is not stored as given (self.{field} = {field}) nor forwarded to super()")
    assert not problems, f"{cls.__qualname__}.__init__:\n" + "\n".join(problems)


@pytest.mark.parametrize("cls", [LocalServer, ModelCache], ids=lambda cls: cls.__name__)
def test_settings_values_rendered_by_airflow_only_store_their_fields(cls: type) -> None:
    """Their fields are rendered with the operator's, so like a constructor they check nothing when built."""
    assert dataclasses.is_dataclass(cls)
    assert "__post_init__" not in vars(cls)
    assert set(cls.template_fields) <= {field.name for field in dataclasses.fields(cls)}  # type: ignore[attr-defined]


def test_the_rules_catch_a_constructor_that_checks_a_template_field() -> None:
    class Checking(BaseOperator):
        template_fields = ("model", "prompts")

        def __init__(self, *, model: str, prompts: list[str] | None = None, **kwargs: object) -> None:
            super().__init__(**kwargs)  # type: ignore[arg-type]
            if "{{" not in model:
                print(model.strip())
            self.model = model.strip()
            self.prompts = list(prompts or ())

    problems = _Constructor(Checking, {"model", "prompts"}).check()
    assert any("reads model" in problem for problem in problems)
    assert any("self.model is not assigned as given" in problem for problem in problems)
    assert any("self.prompts is not assigned as given" in problem for problem in problems)
