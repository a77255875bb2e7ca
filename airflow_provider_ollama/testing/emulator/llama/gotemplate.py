"""Go's ``text/template`` for model prompt templates: the subset Ollama's templates use, with Go's rules.

Ollama renders a model's TEMPLATE layer with Go's template engine and the functions of its
``template`` package (``json``, ``currentDate``, ``yesterdayDate``, ``toTypeScriptType``, plus Go's
built-ins). This module parses and executes such templates the same way: ``{{- -}}`` trimming,
comments, ``if``/``else if``/``else``, ``range`` (with ``$i, $x :=``, ``break``, ``continue``),
``with``, variables and their scopes, pipelines, parenthesised arguments, field chains on maps, and Go's
truth and printing rules. ``define``/``template``/``block`` are not supported and fail at parse time
with Go's wording, as an unknown function does.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_ollama.testing.emulator.gojson import dumps as go_json

NO_VALUE = "<no value>"


class TemplateError(ValueError):
    """A template Go would refuse to parse or execute; the message follows Go's ``template: :LINE: ...``."""


class JSONText(dict[str, Any]):
    """A map Go prints as JSON (Ollama's tool and argument types have such ``String`` methods)."""


# ---------------------------------------------------------------------------------------------- nodes


@dataclass
class Text:
    text: str


@dataclass
class Field:
    """``.A.B`` (receiver ``None``), ``$x.A`` (receiver a :class:`Variable`) or ``(pipe).A``."""

    names: list[str]
    receiver: Any = None


@dataclass
class Variable:
    name: str  # "$" or "$x"


@dataclass
class Dot:
    pass


@dataclass
class Literal:
    value: Any


@dataclass
class Function:
    name: str


@dataclass
class Command:
    args: list[Any]


@dataclass
class Pipeline:
    commands: list[Command]
    declare: list[str] = field(default_factory=list)
    assign: bool = False  # "=" rather than ":="
    line: int = 1


@dataclass
class Action:
    pipe: Pipeline


@dataclass
class Branch:
    kind: str  # "if", "range", "with"
    pipe: Pipeline
    body: list[Any]
    otherwise: list[Any] | None = None


@dataclass
class LoopControl:
    kind: str  # "break" or "continue"


# ------------------------------------------------------------------------------------------- lexing

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\\n]|\\.)*")
    | (?P<raw>`[^`]*`)
    | (?P<char>'(?:[^'\\]|\\.)+')
    | (?P<number>-?(?:0[xX][0-9a-fA-F_]+|\d[\d_]*(?:\.\d+)?(?:[eE][-+]?\d+)?))
    | (?P<declare>:=)
    | (?P<assign>=)
    | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
    | (?P<variable>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    | (?P<dot>\.)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<punct>[|(),])
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "0": "\0",
}


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    out: list[str] = []
    chars = iter(range(len(body)))
    for index in chars:
        char = body[index]
        if char != "\\":
            out.append(char)
            continue
        code = body[index + 1]
        if code in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[code]
            out.append(chr(int(body[index + 2 : index + 2 + width], 16)))
            for _ in range(width + 1):
                next(chars)
            continue
        out.append(_ESCAPES.get(code, code))
        next(chars)
    return "".join(out)


@dataclass
class _Token:
    kind: str
    text: str


def _tokens(source: str, line: int) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        if not source[position:].strip():
            break
        match = _TOKEN.match(source, position)
        if match is None or match.end() == position:
            raise TemplateError(f"template: :{line}: unexpected {source[position:].strip()[:1]!r} in command")
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, (match.group(kind) or "").strip()))
        position = match.end()
    return tokens


# ------------------------------------------------------------------------------------------ parsing

_FUNCTIONS_ONLY_AT_PARSE = {"and", "or", "not", "len", "index", "slice", "eq", "ne", "lt", "le", "gt", "ge"}


def split_actions(source: str) -> Iterator[tuple[str, str, int]]:
    """A template's ("text", text, line) and ("action", inner, line) items, as Go's lexer reads them.

    Trim markers (``{{-``, ``-}}``) are applied and comments dropped; an unclosed action raises
    :class:`TemplateError`. The capability checks read templates with it too.
    """
    position = 0
    pending_trim = False
    for match in _ACTION.finditer(source):
        text = source[position : match.start()]
        if pending_trim:
            text = text.lstrip(" \t\r\n")
        if match.group(1):
            text = text.rstrip(" \t\r\n")
        if text:
            yield "text", text, source.count("\n", 0, position) + 1
        inner = match.group(2).strip()
        line = source.count("\n", 0, match.start()) + 1
        if not (inner.startswith("/*") and inner.endswith("*/")):
            yield "action", inner, line
        pending_trim = bool(match.group(3))
        position = match.end()
    text = source[position:]
    if pending_trim:
        text = text.lstrip(" \t\r\n")
    if "{{" in text:
        raise TemplateError(f"template: :{source.count(chr(10), 0, position) + 1}: unclosed action")
    if text:
        yield "text", text, source.count("\n", 0, position) + 1


class _Parser:
    def __init__(self, source: str, functions: Mapping[str, Callable[..., Any]]) -> None:
        self.functions = functions
        self.items = list(split_actions(source))
        self.index = 0

    def parse(self) -> list[Any]:
        nodes, stop = self._list(loop_depth=0)
        if stop is not None:
            raise TemplateError(f"template: :{stop[1]}: unexpected {{{{{stop[0]}}}}}")
        return nodes

    def _list(self, loop_depth: int) -> tuple[list[Any], tuple[str, int, str] | None]:
        """Nodes up to an ``else``/``end`` (returned as ``(keyword, line, rest)``) or the end."""
        nodes: list[Any] = []
        while self.index < len(self.items):
            kind, content, line = self.items[self.index]
            self.index += 1
            if kind == "text":
                nodes.append(Text(content))
                continue
            keyword, _, rest = content.partition(" ")
            keyword = keyword.strip()
            if keyword in ("else", "end"):
                return nodes, (keyword, line, rest.strip())
            if keyword in ("if", "range", "with"):
                nodes.append(self._branch(keyword, rest, line, loop_depth))
            elif keyword in ("break", "continue"):
                if loop_depth == 0:
                    raise TemplateError(f"template: :{line}: {{{{{keyword}}}}} outside {{{{range}}}}")
                nodes.append(LoopControl(keyword))
            elif keyword in ("define", "template", "block"):
                raise TemplateError(f"template: :{line}: {keyword} is not supported by the emulator")
            else:
                nodes.append(Action(self._pipeline(content, line)))
        return nodes, None

    def _branch(self, kind: str, rest: str, line: int, loop_depth: int) -> Branch:
        pipe = self._pipeline(rest, line, declarations=True)
        body, stop = self._list(loop_depth + (kind == "range"))
        branch = Branch(kind, pipe, body)
        if stop is None:
            raise TemplateError(f"template: :{line}: unexpected EOF")
        keyword, else_line, else_rest = stop
        if keyword == "else":
            chained, _, chained_rest = else_rest.partition(" ")
            if chained in ("if", "with") and chained == kind:
                # "else if" / "else with": a nested branch that shares our {{end}}
                branch.otherwise = [self._branch(kind, chained_rest, else_line, loop_depth)]
                return branch
            if else_rest:
                raise TemplateError(f"template: :{else_line}: unexpected {else_rest!r} in else")
            branch.otherwise, stop = self._list(loop_depth)
            if stop is None or stop[0] != "end":
                raise TemplateError(f"template: :{line}: unexpected EOF")
        return branch

    def _pipeline(self, source: str, line: int, declarations: bool = True) -> Pipeline:
        tokens = _tokens(source, line)
        pipe = Pipeline(commands=[], line=line)
        names: list[str] = []
        position = 0
        # "$x :=", "$i, $x :=" or "$x =" before the commands
        while position + 1 < len(tokens) and tokens[position].kind == "variable":
            follower = tokens[position + 1]
            if follower.kind in ("declare", "assign") or (follower.kind == "punct" and follower.text == ","):
                names.append(tokens[position].text)
                position += 2
                if follower.kind != "punct":
                    pipe.declare, pipe.assign = names, follower.kind == "assign"
                    break
            else:
                break
        if names and not pipe.declare:
            raise TemplateError(f"template: :{line}: too many declarations in command")
        commands, position = self._commands(tokens, position, line)
        if position != len(tokens):
            raise TemplateError(f"template: :{line}: unexpected {tokens[position].text!r} in operand")
        if not commands:
            raise TemplateError(f"template: :{line}: missing value for command")
        pipe.commands = commands
        return pipe

    def _commands(self, tokens: list[_Token], position: int, line: int) -> tuple[list[Command], int]:
        commands: list[Command] = []
        args: list[Any] = []
        while position < len(tokens):
            token = tokens[position]
            if token.kind == "punct" and token.text == ")":
                break
            if token.kind == "punct" and token.text == "|":
                if not args:
                    raise TemplateError(f"template: :{line}: missing value for command")
                commands.append(Command(args))
                args = []
                position += 1
                continue
            operand, position = self._operand(tokens, position, line)
            args.append(operand)
        if args:
            commands.append(Command(args))
        return commands, position

    def _operand(self, tokens: list[_Token], position: int, line: int) -> tuple[Any, int]:
        token = tokens[position]
        position += 1
        node: Any
        if token.kind == "punct" and token.text == "(":
            commands, position = self._commands(tokens, position, line)
            if position >= len(tokens) or tokens[position].text != ")":
                raise TemplateError(f"template: :{line}: unclosed left paren")
            position += 1
            node = Pipeline(commands=commands, line=line)
        elif token.kind in ("string", "raw"):
            node = Literal(_unquote(token.text) if token.kind == "string" else token.text[1:-1])
        elif token.kind == "char":
            node = Literal(ord(_unquote(token.text)))
        elif token.kind == "number":
            text = token.text.replace("_", "")
            node = Literal(
                float(text) if any(c in text for c in ".eE") and "x" not in text.lower() else int(text, 0)
            )
        elif token.kind == "field":
            node = Field(token.text.split(".")[1:])
        elif token.kind == "variable":
            name, *names = token.text.split(".")
            node = Field(names, Variable(name)) if names else Variable(name)
        elif token.kind == "dot":
            node = Dot()
        elif token.kind == "ident":
            if token.text in ("true", "false"):
                node = Literal(token.text == "true")
            elif token.text == "nil":
                node = Literal(None)
            elif token.text in self.functions:
                node = Function(token.text)
            else:
                raise TemplateError(f'template: :{line}: function "{token.text}" not defined')
        else:
            raise TemplateError(f"template: :{line}: unexpected {token.text!r} in operand")
        # a field chain after a parenthesised pipeline: (index .X 0).Name
        if isinstance(node, Pipeline) and position < len(tokens) and tokens[position].kind == "field":
            node = Field(tokens[position].text.split(".")[1:], node)
            position += 1
        return node, position


# ----------------------------------------------------------------------------------------- execution


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def truth(value: Any) -> bool:
    """Go's template truth: false, 0, nil and empty strings, slices and maps are false."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float, str, list, tuple, dict)):
        return bool(value)
    return True


def go_format(value: Any) -> str:
    """How Go's template engine prints a value (``fmt.Sprint`` rules, JSON for :class:`JSONText`)."""
    if value is None:
        return NO_VALUE
    if isinstance(value, JSONText):
        return go_json(dict(value)).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_format(item) for item in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{go_format(value[key])}" for key in sorted(value)) + "]"
    return str(value)


def _go_float(value: float) -> str:
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}e{sign}{exponent.lstrip('+-').zfill(2)}"
    return text


def _length(value: Any) -> int:
    if value is None:
        raise TemplateError("error calling len: len of nil pointer")
    if not isinstance(value, (str, list, tuple, dict)):
        raise TemplateError(f"error calling len: len of type {type(value).__name__}")
    return len(value.encode()) if isinstance(value, str) else len(value)


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, (list, tuple, str)):
            if not isinstance(key, int) or not 0 <= key < len(value):
                raise TemplateError(f"error calling index: index out of range: {key}")
            value = value[key]
        else:
            raise TemplateError(f"error calling index: can't index item of type {type(value).__name__}")
    return value


def _slice(value: Any, *bounds: int) -> Any:
    if not isinstance(value, (str, list, tuple)):
        raise TemplateError(f"error calling slice: can't slice item of type {type(value).__name__}")
    if len(bounds) > 2:
        raise TemplateError("error calling slice: too many slice indexes")
    start = bounds[0] if bounds else 0
    stop = bounds[1] if len(bounds) > 1 else len(value)
    if not 0 <= start <= stop <= len(value):
        raise TemplateError(f"error calling slice: index out of range: {stop}")
    return value[start:stop]


def _equal(first: Any, *others: Any) -> bool:
    if not others:
        raise TemplateError("error calling eq: missing argument for comparison")
    return any(first == other for other in others)


def _printf(pattern: str, *args: Any) -> str:
    values = iter(args)

    def substitute(match: re.Match[str]) -> str:
        verb = match.group(1)
        if verb == "%":
            return "%"
        value = next(values, None)
        if verb == "q":
            return go_json(str(value)).decode()
        if verb == "d" and isinstance(value, (int, float)):
            return str(int(value))
        return go_format(value)

    return re.sub(r"%[-+# 0-9.]*([a-zA-Z%])", substitute, pattern)


def _json(value: Any) -> str:
    return go_json(dict(value) if isinstance(value, JSONText) else value).decode()


def _date(days_ago: int) -> Callable[..., str]:
    return lambda *_: (dt.date.today() - dt.timedelta(days=days_ago)).isoformat()


def _typescript_type(value: Any) -> str:
    """Ollama's ``ToolProperty.ToTypeScriptType``: the property's JSON type(s) in TypeScript words."""
    if not isinstance(value, Mapping):
        return "any"
    kinds = value.get("type")
    names = kinds if isinstance(kinds, list) else [kinds]
    words = {
        "string": "string",
        "number": "number",
        "integer": "number",
        "boolean": "boolean",
        "null": "null",
    }
    rendered = []
    for name in names:
        if name == "array":
            rendered.append(f"{_typescript_type(value.get('items') or {})}[]")
        elif name == "object":
            rendered.append("Record<string, any>")
        else:
            rendered.append(words.get(str(name), "any"))
    if value.get("enum") and names == ["string"]:
        return " | ".join(go_json(str(item)).decode() for item in value["enum"])
    return " | ".join(rendered) or "any"


#: Go's built-in template functions and Ollama's (``template.funcs``). ``and``/``or`` short-circuit.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "and": lambda *args: args[-1],  # evaluated lazily in _call
    "or": lambda *args: args[-1],
    "not": lambda value: not truth(value),
    "len": _length,
    "index": _index,
    "slice": _slice,
    "eq": _equal,
    "ne": lambda first, second: first != second,
    "lt": lambda first, second: first < second,
    "le": lambda first, second: first <= second,
    "gt": lambda first, second: first > second,
    "ge": lambda first, second: first >= second,
    "print": lambda *args: "".join(go_format(arg) for arg in args),
    "println": lambda *args: " ".join(go_format(arg) for arg in args) + "\n",
    "printf": _printf,
    "json": _json,
    "currentDate": _date(0),
    "yesterdayDate": _date(1),
    "toTypeScriptType": _typescript_type,
}


class _Scope:
    def __init__(self, root: Any) -> None:
        self.frames: list[dict[str, Any]] = [{"$": root}]

    def lookup(self, name: str, line: int) -> Any:
        for frame in reversed(self.frames):
            if name in frame:
                return frame[name]
        raise TemplateError(f"template: :{line}: undefined variable: {name}")

    def set(self, name: str, value: Any, line: int) -> None:
        for frame in reversed(self.frames):
            if name in frame:
                frame[name] = value
                return
        raise TemplateError(f"template: :{line}: undefined variable: {name}")


class Template:
    """A parsed Go template; :meth:`execute` renders it with a data value (usually a map)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes: list[Any] = _Parser(source, FUNCTIONS).parse()

    def identifiers(self) -> set[str]:
        """Lower-cased field and variable names the template refers to (Ollama's ``Template.Vars``)."""
        names: set[str] = set()

        def visit(node: Any) -> None:
            if isinstance(node, list):
                for child in node:
                    visit(child)
            elif isinstance(node, Action):
                visit(node.pipe)
            elif isinstance(node, Branch):
                visit(node.pipe)
                visit(node.body)
                visit(node.otherwise or [])
            elif isinstance(node, Pipeline):
                for command in node.commands:
                    visit(command.args)
            elif isinstance(node, Field):
                names.update(name.lower() for name in node.names)
                visit(node.receiver)
            elif isinstance(node, Variable):
                names.add(node.name.lower())

        visit(self.nodes)
        return names

    def execute(self, data: Any) -> str:
        out: list[str] = []
        self._run(self.nodes, data, _Scope(data), out)
        return "".join(out)

    # -- statements

    def _run(self, nodes: Sequence[Any], dot: Any, scope: _Scope, out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, Text):
                out.append(node.text)
            elif isinstance(node, Action):
                value = self._pipe(node.pipe, dot, scope)
                if not node.pipe.declare:
                    out.append(go_format(value))
            elif isinstance(node, Branch):
                self._branch(node, dot, scope, out)
            elif isinstance(node, LoopControl):
                raise _Break() if node.kind == "break" else _Continue()

    def _in_frame(self, nodes: Sequence[Any], dot: Any, scope: _Scope, out: list[str], **names: Any) -> None:
        scope.frames.append(dict(names))
        try:
            self._run(nodes, dot, scope, out)
        finally:
            scope.frames.pop()

    def _branch(self, node: Branch, dot: Any, scope: _Scope, out: list[str]) -> None:
        scope.frames.append({})  # variables declared in the pipeline live until {{end}}
        try:
            if node.kind == "range":
                self._range(node, dot, scope, out)
                return
            value = self._pipe(node.pipe, dot, scope)
            if truth(value):
                self._in_frame(node.body, value if node.kind == "with" else dot, scope, out)
            elif node.otherwise is not None:
                self._in_frame(node.otherwise, dot, scope, out)
        finally:
            scope.frames.pop()

    def _range(self, node: Branch, dot: Any, scope: _Scope, out: list[str]) -> None:
        pipe = Pipeline(node.pipe.commands, line=node.pipe.line)
        value = self._pipe(pipe, dot, scope)
        if value is None:
            items: list[tuple[Any, Any]] = []
        elif isinstance(value, dict):
            items = [(key, value[key]) for key in sorted(value)]
        elif isinstance(value, (list, tuple, str)):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(index, index) for index in range(value)]
        else:
            raise TemplateError(f"template: :{node.pipe.line}: range can't iterate over {go_format(value)}")
        if not items:
            if node.otherwise is not None:
                self._in_frame(node.otherwise, dot, scope, out)
            return
        for key, element in items:
            names = node.pipe.declare
            bound = {names[0]: key, names[1]: element} if len(names) == 2 else dict.fromkeys(names, element)
            try:
                self._in_frame(node.body, element, scope, out, **bound)
            except _Break:
                break
            except _Continue:
                continue

    # -- expressions

    def _pipe(self, pipe: Pipeline, dot: Any, scope: _Scope) -> Any:
        value: Any = None
        for number, command in enumerate(pipe.commands):
            value = self._command(command, dot, scope, pipe.line, piped=(value,) if number else ())
        for name in pipe.declare[-1:]:
            if pipe.assign:
                scope.set(name, value, pipe.line)
            else:
                scope.frames[-1][name] = value
        return value

    def _command(self, command: Command, dot: Any, scope: _Scope, line: int, piped: tuple[Any, ...]) -> Any:
        first, *rest = command.args
        if isinstance(first, Function):
            return self._call(first.name, rest, dot, scope, line, piped)
        if rest or piped:
            raise TemplateError(f"template: :{line}: can't give argument to non-function")
        return self._operand(first, dot, scope, line)

    def _call(
        self, name: str, args: list[Any], dot: Any, scope: _Scope, line: int, piped: tuple[Any, ...]
    ) -> Any:
        if name in ("and", "or"):
            if not args and not piped:
                raise TemplateError(
                    f"template: :{line}: wrong number of args for {name}: want at least 1 got 0"
                )
            value: Any = None
            for position in range(len(args) + len(piped)):
                # one at a time: Go stops at the first argument that decides the result
                value = self._operand(args[position], dot, scope, line) if position < len(args) else piped[0]
                if truth(value) == (name == "or"):
                    return value
            return value
        values = [self._operand(arg, dot, scope, line) for arg in args] + list(piped)
        try:
            return FUNCTIONS[name](*values)
        except TemplateError as error:
            raise TemplateError(f"template: :{line}: {error}") from None
        except TypeError as error:
            raise TemplateError(f"template: :{line}: error calling {name}: {error}") from None

    def _operand(self, node: Any, dot: Any, scope: _Scope, line: int) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Dot):
            return dot
        if isinstance(node, Variable):
            return scope.lookup(node.name, line)
        if isinstance(node, Pipeline):
            return self._pipe(node, dot, scope)
        if isinstance(node, Function):
            return self._call(node.name, [], dot, scope, line, ())
        if isinstance(node, Field):
            value = dot if node.receiver is None else self._operand(node.receiver, dot, scope, line)
            for name in node.names:
                value = _field(value, name, line)
            return value
        raise TemplateError(f"template: :{line}: can't evaluate {node!r}")


def _field(value: Any, name: str, line: int) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)  # Ollama parses with missingkey=zero
    if value is None:
        raise TemplateError(f"template: :{line}: nil pointer evaluating interface {{}}.{name}")
    raise TemplateError(f"template: :{line}: can't evaluate field {name} in type {type(value).__name__}")


def cut_after_response(template: Template) -> Template:
    """A copy of ``template`` ending at its first ``.Response`` field, as Ollama's legacy rendering does.

    Ollama deletes every node after the first ``Response`` field (walking actions, branch bodies and
    pipelines in order) so the prompt ends where the model's answer begins."""
    cut = False

    def walk(node: Any) -> Any:
        nonlocal cut
        if isinstance(node, Field) and "Response" in node.names:
            cut = True
            return node
        if cut:
            return None
        if isinstance(node, list):
            return [kept for kept in (walk(child) for child in node) if kept is not None]
        if isinstance(node, Branch):
            body = walk(node.body)
            otherwise = walk(node.otherwise) if node.otherwise is not None else None
            return Branch(node.kind, node.pipe, body, otherwise)
        if isinstance(node, Action):
            pipe = walk(node.pipe)
            return Action(pipe) if pipe is not None else None
        if isinstance(node, Pipeline):
            commands = []
            for command in node.commands:
                args = [kept for kept in (walk(arg) for arg in command.args) if kept is not None]
                if not args:
                    return None
                commands.append(Command(args))
            return Pipeline(commands, node.declare, node.assign, node.line) if commands else None
        return node

    copy = Template.__new__(Template)
    copy.source = template.source
    copy.nodes = walk(template.nodes)
    return copy
