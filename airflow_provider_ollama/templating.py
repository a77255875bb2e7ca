"""Whether a value is still an Airflow template: the one answer every check after rendering relies on.

Operators store their template fields as given and check them once rendered; a value that is still a
template then was never rendered (it sat outside a template field, or the task was run by hand), and
it gets an error that says so instead of being taken for a model name or a path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

_JINJA_MARKERS = ("{{", "{%")
_PREVIEW_LENGTH = 60


def is_template(value: object) -> bool:
    """Whether Airflow would still have to resolve ``value``: a Jinja string (``{{ }}``, ``{% %}``), an
    upstream task's output (an ``XComArg``, or anything else with a ``resolve`` method, as Airflow's
    renderer treats it), or a list, tuple or dict holding one."""
    if isinstance(value, str):
        return any(marker in value for marker in _JINJA_MARKERS)
    if not isinstance(value, os.PathLike) and callable(getattr(value, "resolve", None)):
        return True
    if isinstance(value, Mapping):
        return any(is_template(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(is_template(item) for item in value)
    return False


def require_rendered(name: str, value: object, *, show_value: bool = True) -> None:
    """Raise ``ValueError`` naming ``name`` if ``value`` is still a template.

    The message shows the start of the value unless ``show_value`` is false (values that may hold
    secrets, such as a server's environment variables).
    """
    if is_template(value):
        shown = repr(value) if show_value else "value not shown"
        if len(shown) > _PREVIEW_LENGTH:
            shown = shown[:_PREVIEW_LENGTH] + "..."
        raise ValueError(
            f"{name} is still a template ({shown}): nothing rendered it. Airflow renders an operator's "
            "template fields when its task runs (on Airflow 3.1 a template that renders to an empty value "
            "is left as written); outside a task, give the value itself"
        )
