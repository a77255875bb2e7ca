"""Go ``text/template`` parse errors for the templates clients send (create's TEMPLATE, generate's
``template``): unbalanced actions and blocks, reported in Go's words."""

from __future__ import annotations

import re

_TEMPLATE_ACTION = re.compile(r"{{-?\s*(if|range|with|define|block|end)\b")


def template_parse_error(template: str) -> str | None:
    """Go's ``template.Parse`` error text for ``template`` (``template: :1: unclosed action``), or None
    when its actions and blocks balance (the emulator does not check expressions further)."""
    if template.count("{{") != template.count("}}"):
        return "template: :1: unclosed action"
    depth = 0
    for match in _TEMPLATE_ACTION.finditer(template):
        line = template.count("\n", 0, match.start()) + 1
        if match.group(1) == "end":
            depth -= 1
            if depth < 0:
                return f"template: :{line}: unexpected {{{{end}}}}"
        else:
            depth += 1
    if depth > 0:
        return "template: :1: unexpected EOF"
    return None
