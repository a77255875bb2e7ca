"""The ``ollama`` connection form: which standard fields show, with what labels, and the custom fields.

One definition feeds both ways Airflow learns about a form: the declarative ``conn-fields`` and
``ui-field-behaviour`` in provider info (Airflow 3.2+) and the hook's classmethods (Airflow 3.1).
Provider info imports this module while Airflow itself is still starting, so it imports nothing of
Airflow's or the provider's (the defaults quoted in descriptions are checked against the hook's by tests).
"""

from __future__ import annotations

import copy
from typing import Any

#: Standard fields: hidden ones, relabelled ones and placeholders (Airflow's snake_case form).
FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden_fields": ["schema", "login"],
    "relabeling": {"host": "Host (URL)", "password": "Bearer token (optional)"},
    "placeholders": {
        "host": "http://ollama:11434",
        "port": "11434 (or put the port in the host)",
        "password": "only for a server behind an authenticating proxy",
        "extra": '{"request_timeout": 300, "keep_alive": "5m"}',
    },
}

#: Custom fields, stored in the connection's extra under these names.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "request_timeout": {
        "label": "Request timeout (seconds)",
        "description": (
            "Longest wait for the answer to one request, such as a whole non-streamed generation. "
            "Default 300; connecting gives up after 10 s."
        ),
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
    "verify_ssl": {
        "label": "Verify TLS certificate",
        "description": "Check an https server's certificate (default true). Turn off only for tests.",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "extra_headers": {
        "label": "Extra HTTP headers (JSON)",
        "description": 'A JSON object of headers sent with every request, such as {"X-Team": "ml"}.',
        "schema": {"type": ["string", "null"]},
    },
    "keep_alive": {
        "label": "Default keep_alive",
        "description": (
            "How long the server keeps a model loaded after a request that sets no keep_alive: "
            "seconds (300; -1 keeps it forever; 0 unloads at once) or a Go duration (5m, 1h)."
        ),
        "schema": {"type": ["string", "null"]},
    },
}


def provider_info_connection_form() -> dict[str, Any]:
    """The ``ui-field-behaviour`` and ``conn-fields`` entries of the connection type in provider info."""
    return {
        "ui-field-behaviour": {
            "hidden-fields": list(FIELD_BEHAVIOUR["hidden_fields"]),
            "relabeling": dict(FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(FIELD_BEHAVIOUR["placeholders"]),
        },
        "conn-fields": copy.deepcopy(CONN_FIELDS),
    }


def connection_form_widgets() -> dict[str, Any]:
    """WTForms fields for Airflow 3.1, which builds the form from the hook (it mocks these imports)."""
    # Untyped, and absent without the FAB provider: Airflow 3.1 substitutes stand-ins when they are.
    from flask_appbuilder.fieldwidgets import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
        BS3TextFieldWidget,
    )
    from flask_babel import lazy_gettext  # type: ignore[import-not-found,import-untyped,unused-ignore]
    from wtforms import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
        BooleanField,
        IntegerField,
        StringField,
    )
    from wtforms.validators import Optional  # type: ignore[import-not-found,import-untyped,unused-ignore]

    def text(name: str, field_class: Any) -> Any:
        definition = CONN_FIELDS[name]
        return field_class(
            lazy_gettext(definition["label"]),
            widget=BS3TextFieldWidget(),
            validators=[Optional()],
            description=definition["description"],
        )

    verify = CONN_FIELDS["verify_ssl"]
    return {
        "request_timeout": text("request_timeout", IntegerField),
        "verify_ssl": BooleanField(
            lazy_gettext(verify["label"]), default=True, description=verify["description"]
        ),
        "extra_headers": text("extra_headers", StringField),
        "keep_alive": text("keep_alive", StringField),
    }
