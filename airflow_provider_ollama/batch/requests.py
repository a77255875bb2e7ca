"""What a batch asks the server: the items (prompts, conversations or embed inputs) and shared options.

Each batch kind knows how to send one unit of work through a :class:`GenerationClient` and turn the
answer into records, and how to fingerprint itself so a resumed run can tell its own output apart.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, NamedTuple

from airflow_provider_ollama.batch.client import GenerationClient
from airflow_provider_ollama.batch.formats import ResponseFormatSpec, ResponseParser, validate_format
from airflow_provider_ollama.batch.results import (
    GenerationRecord,
    ItemRecord,
    chat_record,
    embedding_records,
    generation_record,
)
from airflow_provider_ollama.batch.validation import (
    PromptItem,
    validate_conversations,
    validate_embed_inputs,
    validate_prompts,
)

#: Inputs per /api/embed request unless told otherwise (see bench/README.md, "Batch generation").
DEFAULT_EMBED_BATCH_SIZE = 32


class SentUnit(NamedTuple):
    """The answer to one unit of work: a record per item, and the tokens the request used."""

    records: list[ItemRecord]
    prompt_eval_count: int
    eval_count: int


@dataclass(frozen=True)
class GenerationOptions:
    """Options every item of a generate or chat batch shares; names and meanings are Ollama's."""

    system: str | None = None
    options: Mapping[str, Any] | None = None
    format: ResponseFormatSpec = None
    keep_alive: float | str | None = None
    think: bool | str | None = None

    def __post_init__(self) -> None:
        validate_format(self.format)

    def fingerprint_material(self) -> dict[str, Any]:
        """Everything that shapes the output; keep_alive only affects the server's memory, so it is left out."""
        material = asdict(self)
        material.pop("keep_alive")
        return material


class Batch(ABC):
    """A list of items to send to one model, split into units of work (one request each)."""

    mode: ClassVar[str]

    def __init__(self, model: str) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ValueError("model is required: the name of a pulled model, e.g. 'llama3.2:1b'")
        self.model = model

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def _header_material(self) -> dict[str, Any]:
        """The options part of the fingerprint."""

    @abstractmethod
    def _item_material(self, index: int) -> Any:
        """The JSON-serialisable content of one item, for the fingerprint."""

    @abstractmethod
    async def send(self, client: GenerationClient, indices: Sequence[int]) -> SentUnit:
        """Send the unit made of ``indices`` as one request; one record per index, in order.

        Raises whatever the client raises, or ``ResponseFormatError`` when a response does not fit
        the batch's format.
        """

    def units(self, todo: Iterable[int]) -> Iterator[tuple[int, ...]]:
        """The units of work covering ``todo`` (ascending indices), in order: one item each by default."""
        for index in todo:
            yield (index,)

    def fingerprint(self) -> str:
        """A sha256 over model, options and every item: equal for the same batch, different otherwise."""
        digest = hashlib.sha256()
        header = {"mode": self.mode, "model": self.model, "items": len(self), **self._header_material()}
        digest.update(_canonical_json(header))
        for index in range(len(self)):
            digest.update(b"\n")
            digest.update(_canonical_json(self._item_material(index)))
        return digest.hexdigest()


class GenerateBatch(Batch):
    """Prompts for ``/api/generate``: one request per prompt (an item dict adds its ``images`` and
    ``template``)."""

    mode = "generate"

    def __init__(
        self,
        model: str,
        prompts: Sequence[PromptItem],
        *,
        options: GenerationOptions | None = None,
    ) -> None:
        super().__init__(model)
        self.prompts = validate_prompts(prompts=prompts)
        self.options = options or GenerationOptions()
        self._parser = ResponseParser(self.options.format)
        self._shared_kwargs = _without_none(
            system=self.options.system,
            options=self.options.options,
            format=self.options.format or None,
            keep_alive=self.options.keep_alive,
            think=self.options.think,
        )

    def __len__(self) -> int:
        return len(self.prompts)

    def _header_material(self) -> dict[str, Any]:
        return self.options.fingerprint_material()

    def _item_material(self, index: int) -> Any:
        return self.prompts[index]

    async def send(self, client: GenerationClient, indices: Sequence[int]) -> SentUnit:
        (index,) = indices
        item = self.prompts[index]
        kwargs = dict(self._shared_kwargs)
        if isinstance(item, str):
            prompt = item
        else:
            prompt = str(item["prompt"])
            kwargs.update(_without_none(images=item.get("images") or None, template=item.get("template")))
        response = await client.agenerate(self.model, prompt, **kwargs)
        return _single(generation_record(index, response, self._parser))


class ChatBatch(Batch):
    """Conversations for ``/api/chat``: one request per conversation, the reply is the item's result."""

    mode = "chat"

    def __init__(
        self,
        model: str,
        conversations: Sequence[Sequence[Mapping[str, Any]]],
        *,
        options: GenerationOptions | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(model)
        self.conversations = validate_conversations(conversations)
        self.options = options or GenerationOptions()
        self.tools = [dict(tool) for tool in tools or ()]
        self._parser = ResponseParser(self.options.format)
        self._shared_kwargs = _without_none(
            options=self.options.options,
            format=self.options.format or None,
            keep_alive=self.options.keep_alive,
            think=self.options.think,
            tools=self.tools or None,
        )

    def __len__(self) -> int:
        return len(self.conversations)

    def _header_material(self) -> dict[str, Any]:
        return {**self.options.fingerprint_material(), "tools": self.tools}

    def _item_material(self, index: int) -> Any:
        return self.conversations[index]

    async def send(self, client: GenerationClient, indices: Sequence[int]) -> SentUnit:
        (index,) = indices
        messages = self.conversations[index]
        # The shared system prompt applies where the conversation brings none of its own.
        if self.options.system is not None and not any(m.get("role") == "system" for m in messages):
            messages = [{"role": "system", "content": self.options.system}, *messages]
        response = await client.achat(self.model, messages, **self._shared_kwargs)
        return _single(chat_record(index, response, self._parser))


class EmbedBatch(Batch):
    """Inputs for ``/api/embed``: ``batch_size`` inputs per request, one vector per input."""

    mode = "embed"

    def __init__(
        self,
        model: str,
        inputs: Sequence[str],
        *,
        batch_size: int = DEFAULT_EMBED_BATCH_SIZE,
        truncate: bool | None = None,
        dimensions: int | None = None,
        options: Mapping[str, Any] | None = None,
        keep_alive: float | str | None = None,
    ) -> None:
        super().__init__(model)
        self.inputs = validate_embed_inputs(inputs)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        self._material = {"truncate": truncate, "dimensions": dimensions, "options": options}
        self._shared_kwargs = _without_none(
            truncate=truncate, dimensions=dimensions, options=options, keep_alive=keep_alive
        )

    def __len__(self) -> int:
        return len(self.inputs)

    def _header_material(self) -> dict[str, Any]:
        return dict(self._material)

    def _item_material(self, index: int) -> Any:
        return self.inputs[index]

    def units(self, todo: Iterable[int]) -> Iterator[tuple[int, ...]]:
        unit: list[int] = []
        for index in todo:
            unit.append(index)
            if len(unit) == self.batch_size:
                yield tuple(unit)
                unit = []
        if unit:
            yield tuple(unit)

    async def send(self, client: GenerationClient, indices: Sequence[int]) -> SentUnit:
        texts = [self.inputs[index] for index in indices]
        response = await client.aembed(self.model, texts, **self._shared_kwargs)
        records: list[ItemRecord] = list(embedding_records(indices, response))
        return SentUnit(records, response.prompt_eval_count or 0, 0)


def _single(record: GenerationRecord) -> SentUnit:
    return SentUnit([record], record["prompt_eval_count"], record["eval_count"])


def _without_none(**kwargs: Any) -> dict[str, Any]:
    return {key: value for key, value in kwargs.items() if value is not None}


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_unusual_json).encode()


def _unusual_json(value: Any) -> Any:
    # Bytes (images given as raw bytes) are fingerprinted by content, without embedding them whole.
    if isinstance(value, bytes | bytearray):
        return {"sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    raise TypeError(f"cannot fingerprint a {type(value).__name__}: pass JSON values (str, list, dict)")
