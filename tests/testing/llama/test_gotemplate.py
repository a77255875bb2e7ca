"""Go text/template semantics the prompt templates rely on (outputs checked against Go's rules)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_ollama.testing.emulator.llama.gotemplate import JSONText, Template, TemplateError


def render(source: str, data: Any = None) -> str:
    return Template(source).execute(data if data is not None else {})


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a  {{- 1 -}}  b", "a1b"),
        ("a {{- /* a comment */ -}} b", "ab"),
        ("a {{ 2 }}\n b", "a 2\n b"),
        ("{{ if .X }}yes{{ else if .Y }}y{{ else }}no{{ end }}", "y"),
        ("{{ with .Y }}{{ . }}{{ else }}none{{ end }}", "yy"),
        ("{{ range $i, $v := .L }}{{ $i }}={{ $v }};{{ end }}", "0=a;1=b;"),
        ("{{ range .Empty }}x{{ else }}empty{{ end }}", "empty"),
        ('{{ range .L }}{{ if eq . "b" }}{{ break }}{{ end }}{{ . }}{{ end }}', "a"),
        ('{{ range .L }}{{ if eq . "a" }}{{ continue }}{{ end }}{{ . }}{{ end }}', "b"),
        ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", "2"),
        ("{{ len .L }} {{ index .L 1 }} {{ slice .L 1 }}", "2 b [b]"),
        ("{{ eq (len (slice .L 1)) 1 }}", "true"),
        ('{{ and 1 0 }} {{ or 0 "" "z" }} {{ not .X }}', "0 z true"),
        ("{{ .Missing }}", "<no value>"),
        ("{{ .M.k }} {{ .M }}", "v map[k:v]"),
        # json.Marshal escapes HTML characters
        ("{{ json .M }} {{ .J }}", '{"k":"v"} {"a":"\\u003c"}'),
        ('{{ printf "%s-%d" "x" 3 }} {{ print 1.5 true }}', "x-3 1.5true"),
        ("{{ .L | len }}", "2"),
        ("{{ range $.L }}{{ $.Y }}{{ end }}", "yyyy"),
    ],
)
def test_go_template_semantics(source: str, expected: str) -> None:
    data = {"X": "", "Y": "yy", "L": ["a", "b"], "Empty": [], "M": {"k": "v"}, "J": JSONText(a="<")}

    assert render(source, data) == expected


def test_and_stops_at_the_first_false_argument() -> None:
    # Go evaluates and/or lazily: the index past the end is never reached
    assert render("{{ and (gt (len .L) 5) (index .L 9) }}", {"L": [1]}) == "false"


def test_variables_end_with_their_block() -> None:
    with pytest.raises(TemplateError, match="undefined variable: \\$x"):
        render("{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ if .X }}open", "unexpected EOF"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ nope .X }}", 'function "nope" not defined'),
        ("{{ break }}", "{{break}} outside {{range}}"),
        ('{{ template "x" }}', "not supported"),
        ("text {{ .X", "unclosed action"),
    ],
)
def test_templates_go_would_refuse_are_refused(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        Template(source)


def test_identifiers_name_fields_and_variables() -> None:
    template = Template("{{ range .Messages }}{{ .Content }}{{ end }}{{ $.Tools }}")

    assert {"messages", "content", "tools", "$"} <= template.identifiers()
