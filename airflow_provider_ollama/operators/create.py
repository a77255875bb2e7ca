"""``OllamaCreateOperator``: build a custom model from a Modelfile (text or file) or from structured arguments.

The Modelfile is read by the provider's own parser before any request (the server no longer reads
Modelfiles), local weights are uploaded as blobs unless the server has them, and the result says
whether the model was created, updated or already identical.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, TypedDict

import jinja2
import jinja2.nativetypes
import jinja2.sandbox
from airflow.sdk import Context
from airflow.sdk.definitions.context import render_template_to_string

from airflow_provider_ollama.exceptions import OllamaBadRequestError, OllamaCreateError
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.modelfile import (
    ModelfileError,
    ModelfileSpec,
    build_spec,
    parse_modelfile,
    to_create_request,
)
from airflow_provider_ollama.operators._checks import argument_errors, model_name
from airflow_provider_ollama.operators._modelfile_jinja import load_modelfile, protect_go_templates
from airflow_provider_ollama.operators.base import BaseOllamaOperator
from airflow_provider_ollama.pulling.retry import current_digest

CreateStatus = Literal["created", "unchanged", "updated"]
#: Values of ``modelfile`` that name a file (read through Airflow's template search path) instead of text.
MODELFILE_EXTENSIONS = (".modelfile", "Modelfile")
#: Request fields the hook's ``create`` has no named argument for; sent as they are.
_RAW_CREATE_FIELDS = ("draft_files", "requires", "renderer", "parser")


class CreateResult(TypedDict):
    """What :class:`OllamaCreateOperator` returns (JSON-native)."""

    model: str
    #: ``sha256:<hex>`` of the model's manifest after the create.
    digest: str
    #: ``created`` (new name), ``updated`` (the name now points at a different manifest) or
    #: ``unchanged`` (the same manifest as before: the Modelfile and its blobs were identical).
    status: CreateStatus


class OllamaCreateOperator(BaseOllamaOperator):
    """Create (or update) ``model`` from a Modelfile or from structured arguments; return a :class:`CreateResult`.

    Give exactly one of:

    * ``modelfile`` as Modelfile text, or as the path of a file ending in ``.modelfile`` or named
      ``Modelfile`` (found like any Airflow template file: relative to the DAG's folder or its
      ``template_searchpath``). Airflow renders it with Jinja first, so ``{{ params.system_prompt }}``
      in SYSTEM works. TEMPLATE values are Go templates for Ollama and are *not* rendered by Jinja: the
      operator wraps them in a raw block before rendering, so ``{{ .System }}`` needs no escaping.
    * ``from_model`` plus any of ``system``, ``template``, ``parameters``, ``adapters``, ``messages``
      (structured arguments, checked like a Modelfile; a LICENSE goes in a Modelfile).

    The Modelfile is parsed and checked before any request; a problem fails the task at once with
    :class:`~airflow_provider_ollama.exceptions.OllamaCreateError` listing every problem with its line.
    Local files (``FROM ./weights.gguf``, ``ADAPTER ./lora.gguf``) are relative to the Modelfile file's
    folder (or ``base_dir``), must stay inside it, and are uploaded as blobs unless the server has them.
    A base model named by FROM is pulled first if the server lacks it, in both server modes: that shows
    its progress in the log, honours ``[ollama] insecure_registries`` and names a missing base clearly (the server's own
    implicit pull would do neither). A base the server already has is used as it is.

    .. code-block:: python

        OllamaCreateOperator(
            task_id="create_pirate",
            model="pirate:latest",
            modelfile="modelfiles/pirate.modelfile",
            params={"system_prompt": "You are a pirate."},
        )

    :param model: name of the model to create (templated).
    :param modelfile: Modelfile text, or a ``.modelfile``/``Modelfile`` path (templated, Jinja-rendered).
    :param from_model: structured: the base model's name (templated).
    :param system: structured: the system prompt (templated).
    :param template: structured: the prompt template, a Go template (not templated by Jinja).
    :param parameters: structured: parameters such as ``{"temperature": 0.2, "stop": ["<|end|>"]}`` (templated).
    :param adapters: structured: a LoRA adapter file (Ollama takes one), as a one-element list (templated).
    :param messages: structured: example turns, ``{"role": "user", "content": "..."}`` (templated).
    :param quantize: quantize the weights on creation (``q4_K_M``, ``q8_0``...).
    :param base_dir: folder that relative paths of a Modelfile given as text (or of ``adapters``) start
        from, and must stay inside; a Modelfile file uses its own folder (templated).

    Other arguments: see :class:`~airflow_provider_ollama.operators.base.BaseOllamaOperator`.
    """

    template_fields: Sequence[str] = (
        *BaseOllamaOperator.template_fields,
        "model",
        "modelfile",
        "from_model",
        "system",
        "parameters",
        "adapters",
        "messages",
        "base_dir",
    )
    template_ext: Sequence[str] = MODELFILE_EXTENSIONS
    template_fields_renderers: ClassVar[dict[str, str]] = {"parameters": "json", "messages": "json"}

    def __init__(
        self,
        *,
        model: str,
        modelfile: str | None = None,
        from_model: str | None = None,
        system: str | None = None,
        template: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        adapters: Sequence[str] | None = None,
        messages: Sequence[Mapping[str, str]] | None = None,
        quantize: str | None = None,
        base_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.modelfile = modelfile
        self.from_model = from_model
        self.system = system
        self.template = template
        self.parameters = parameters
        self.adapters = adapters
        self.messages = messages
        self.quantize = quantize
        self.base_dir = base_dir
        # Which arguments were given is known now; what they hold is checked once rendered (check_arguments).
        given = [
            name
            for name, passed in (
                ("from_model", from_model is not None),
                ("system", system is not None),
                ("template", template is not None),
                ("parameters", parameters is not None),
                ("adapters", adapters is not None),
                ("messages", messages is not None),
            )
            if passed
        ]
        if modelfile is not None and given:
            raise ValueError(
                f"{self.task_id}: give the model either as modelfile= or as structured arguments, not both "
                f"(got modelfile and {', '.join(given)}); put those instructions into the Modelfile"
            )
        if modelfile is None and from_model is None:
            hint = f" ({', '.join(given)} need a base)" if given else ""
            raise ValueError(
                f"{self.task_id}: say what to build the model from: modelfile= (Modelfile text or a "
                f".modelfile path) or from_model= (a base model name){hint}"
            )
        #: The Modelfile file ``modelfile`` named, once read (its folder is the base of relative paths).
        self.modelfile_path: Path | None = None
        self._spec: ModelfileSpec | None = None

    # --- templates: the Modelfile file and its Go templates --------------------------------------

    def resolve_template_files(self) -> None:
        """Read the Modelfile file now (Airflow calls this when it loads the DAG), protecting TEMPLATE.

        Only ``modelfile`` may name a file; other text fields stay text whatever they end with.
        """
        if isinstance(self.modelfile, str) and names_modelfile_file(self.modelfile):
            try:
                self._read_modelfile_file(self.get_template_env())
            except jinja2.TemplateNotFound:
                # Reported with its search path when the task renders its templates.
                self.log.warning("Modelfile file %r not found yet", self.modelfile)
        self.prepare_template()

    def render_template(
        self,
        content: Any,
        context: Context,
        jinja_env: jinja2.Environment | None = None,
        seen_oids: set[int] | None = None,
    ) -> Any:
        """Render like Airflow, except that the Modelfile's TEMPLATE values are kept from Jinja."""
        if not isinstance(content, str):
            return super().render_template(content, context, jinja_env, seen_oids)
        jinja_env = jinja_env or self.get_template_env()
        if content is self.modelfile:
            text_env = self._text_env(jinja_env)
            if names_modelfile_file(content):  # not read when the DAG was loaded (a mapped task...)
                self._read_modelfile_file(text_env, required=True)
                content = self.modelfile
            text = protect_go_templates(content, text_env)
            return render_template_to_string(text_env.from_string(text), context)
        if content.endswith(tuple(self.template_ext)):
            # Text that merely ends like a Modelfile name ("... a Modelfile") is still text here.
            return render_template_to_string(self._text_env(jinja_env).from_string(content), context)
        return super().render_template(content, context, jinja_env, seen_oids)

    def _text_env(self, jinja_env: jinja2.Environment) -> jinja2.Environment:
        """An environment that renders to text: a Modelfile stays text in DAGs that render natively."""
        if not isinstance(jinja_env, jinja2.nativetypes.NativeEnvironment):
            return jinja_env
        dag = self.get_dag()
        return (
            dag.get_template_env(force_sandboxed=True)
            if dag is not None
            else jinja2.sandbox.SandboxedEnvironment()
        )

    def _read_modelfile_file(self, env: jinja2.Environment, *, required: bool = False) -> None:
        name = self.modelfile
        assert name is not None
        try:
            source = load_modelfile(env, name)
        except jinja2.TemplateNotFound:
            if not required:
                raise
            where = getattr(env.loader, "searchpath", None)
            raise OllamaCreateError(
                f"{self.task_id}: Modelfile file {name!r} was not found (searched: {where}). Give a path "
                "relative to the DAG's folder or to the DAG's template_searchpath."
            ) from None
        self.modelfile_path = source.path
        self.modelfile = protect_go_templates(source.text, env)

    # --- the work --------------------------------------------------------------------------------

    def check_arguments(self) -> None:
        """The rendered arguments, then the whole Modelfile (through :meth:`models_to_prepare`): a problem
        fails here, before any server starts or any request is sent."""
        model_name("model", self.model)
        if self.from_model is not None:
            model_name("from_model", self.from_model)
        if self.modelfile is not None and (not isinstance(self.modelfile, str) or not self.modelfile.strip()):
            raise ValueError(f"modelfile must be Modelfile text or a .modelfile path, not {self.modelfile!r}")
        names_file = self.modelfile_path is not None or (
            isinstance(self.modelfile, str) and names_modelfile_file(self.modelfile)
        )
        if names_file and self.base_dir is not None:
            raise ValueError("paths in a Modelfile file start at its own folder; drop base_dir")
        if self.adapters is not None and (
            isinstance(self.adapters, str) or not isinstance(self.adapters, list | tuple)
        ):
            raise ValueError(f"adapters must be a list of paths, e.g. [{self.adapters!r}]")
        if self.parameters is not None and not isinstance(self.parameters, Mapping):
            raise TypeError(
                f"parameters rendered to {type(self.parameters).__name__}; it must be a dict such as "
                "{'temperature': 0.2} (a templated dict needs render_template_as_native_obj=True on the DAG)"
            )
        if self.messages is not None and (
            not isinstance(self.messages, list | tuple)
            or not all(isinstance(message, Mapping) for message in self.messages)
        ):
            raise TypeError("messages must be a list of {'role': ..., 'content': ...} dicts")
        super().check_arguments()

    def models_to_prepare(self) -> list[str]:
        """The base model the Modelfile names (FROM), pulled first when the server lacks it."""
        base = self.modelfile_spec().from_model
        return [] if base is None else [base]

    def modelfile_spec(self) -> ModelfileSpec:
        """The checked Modelfile (parsed once per task run); raises :class:`OllamaCreateError` listing problems."""
        if self._spec is None:
            self._spec = self._build_spec()
        return self._spec

    def run(self, context: Context, hook: OllamaHook) -> CreateResult:
        spec = self.modelfile_spec()
        model = self._rendered_model()
        before = current_digest(hook, model)
        digests = {path: hook.upload_blob(path) for path in spec.local_files()}
        body = to_create_request(spec, model=model, blob_digests=digests)
        raw_fields: dict[str, Any] = {key: value for key, value in body.items() if key in _RAW_CREATE_FIELDS}
        try:
            digest = hook.create(
                model,
                from_model=body.get("from"),
                files=body.get("files"),
                adapters=body.get("adapters"),
                template=body.get("template"),
                system=body.get("system"),
                parameters=body.get("parameters"),
                messages=body.get("messages"),
                license=body.get("license"),
                quantize=self.quantize,
                **raw_fields,
            )
        except OllamaBadRequestError as refused:
            raise OllamaCreateError(
                f"{self.task_id}: Ollama refused to create '{model}' from {self._source_name()}: {refused}"
            ) from refused
        status: CreateStatus = "created" if before is None else "unchanged" if before == digest else "updated"
        self.log.info("Model %s: %s (%s)", model, status, digest)
        return CreateResult(model=model, digest=digest, status=status)

    def _build_spec(self) -> ModelfileSpec:
        try:
            if self.modelfile is not None:
                if not isinstance(self.modelfile, str):
                    raise ValueError(f"{self.task_id}: modelfile rendered to {self.modelfile!r}, not text")
                base_dir, confine = self._base_dir()
                return parse_modelfile(
                    self.modelfile, base_dir=base_dir, source=self._source_name(), confine_to_base_dir=confine
                )
            base_dir, confine = self._base_dir()
            return build_spec(
                from_model=self.from_model,
                adapters=self.adapters or (),
                template=self.template,
                system=self.system,
                parameters=self.parameters,
                messages=self.messages or (),
                base_dir=base_dir,
                confine_to_base_dir=confine,
            )
        except ModelfileError as invalid:
            raise OllamaCreateError(
                f"{self.task_id}: the Modelfile for '{self.model}' is invalid; nothing was sent to Ollama.\n"
                f"{invalid}"
            ) from invalid

    def _base_dir(self) -> tuple[Path | None, bool]:
        """The folder relative paths start at, and whether local files must stay inside it."""
        if self.modelfile_path is not None:
            return self.modelfile_path.parent, True
        if self.base_dir:
            return Path(self.base_dir), True
        return None, False

    def _source_name(self) -> str:
        if self.modelfile_path is not None:
            return str(self.modelfile_path)
        if self.modelfile is not None:
            return f"the modelfile text of task {self.task_id!r}"
        return f"the structured arguments of task {self.task_id!r}"

    def _rendered_model(self) -> str:
        with argument_errors(self.task_id):
            return model_name("model", self.model)


def names_modelfile_file(value: str) -> bool:
    """Whether a ``modelfile`` value names a file (one line ending in ``.modelfile`` or ``Modelfile``)."""
    return "\n" not in value and value.strip().endswith(MODELFILE_EXTENSIONS)
