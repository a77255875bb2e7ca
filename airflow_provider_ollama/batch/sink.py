"""Batch results as JSONL under an object-storage location, written so a retried task can resume.

Object stores cannot append, so results go to immutable part files, each written whole; a retried
run reads the parts, generates only what they lack, then combines everything into one ordered file.
"""

from __future__ import annotations

import heapq
import itertools
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_ollama.batch.results import BatchSummary, ItemRecord
from airflow_provider_ollama.exceptions import OllamaError

RESULTS_NAME = "results.jsonl"
METADATA_NAME = "batch.json"
COMPLETE_MARKER_NAME = "_SUCCESS"
PARTS_DIR = "parts"

_LAYOUT_VERSION = 1
_LOCAL_PROTOCOLS = frozenset({"file", "local", ""})
_MISSING, _SUCCEEDED, _FAILED = 0, 1, 2
_RESULTS_GENERATION = 0
_READ_BLOCK_BYTES = 8 << 20


class BatchOutputConflictError(OllamaError):
    """The output location holds something other than this batch's results."""


class BatchOutputCorruptError(OllamaError):
    """The output location's part files do not add up to a complete, ordered result."""


@dataclass(frozen=True)
class ResumeState:
    """What a sink found at its location before the run.

    :param todo: indices to generate, ascending: never written, or written as errors by an earlier
        ``on_error="collect"`` attempt (a retry is the user's way of asking for them again).
    :param resumed: items already written with a result.
    :param completed: the summary of an earlier run that finished the batch; then ``todo`` is empty.
    """

    todo: Sequence[int]
    resumed: int
    completed: BatchSummary | None = None


@dataclass(frozen=True)
class CombinedCounts:
    """What the combined results file holds."""

    items: int
    succeeded: int
    failed: int


class JsonlResultSink:
    """Writes one batch's records under ``location`` and resumes from what an earlier attempt wrote.

    Layout under ``location``::

        batch.json                 fingerprint and size of the batch (refuses a different batch)
        parts/<gen>-<seq>.jsonl    records of attempt <gen>, ascending index within the attempt
        results.jsonl              every item once, in input order (written at the end)
        _SUCCESS                   the batch's summary; its presence means results.jsonl is final

    Each object is written whole (an object store's PUT, or a rename on a local disk), so a crash
    leaves either a complete part or none. Where an index appears more than once, the latest
    attempt wins; ``results.jsonl`` counts as older than any part.

    The methods block on storage (and the Amazon provider's S3 file system cannot even be created
    inside a running event loop), so :func:`run_batch` calls them in a worker thread.

    :param location: an ``ObjectStoragePath`` or URI (``s3://bucket/prefix``, ``s3://conn_id@bucket/prefix``,
        ``file:///dir``) naming a directory-like prefix for this batch alone.
    :param conn_id: Airflow connection for the store, when the URI does not name one.
    :param keep_parts: keep the part files after combining (they are deleted by default).
    """

    def __init__(
        self,
        location: str | ObjectStoragePath,
        *,
        conn_id: str | None = None,
        keep_parts: bool = False,
    ) -> None:
        self._location = location
        self._conn_id = conn_id
        self._keep_parts = keep_parts
        self._root_path: ObjectStoragePath | None = None
        self._fs: Any = None
        self._local = False
        self._items = 0
        self._generation = 0
        self._next_sequence = 0

    @property
    def location(self) -> str:
        """The location's URI (with the connection id when it names one; never credentials)."""
        return str(self._location).rstrip("/")

    @property
    def results_uri(self) -> str:
        """URI of the combined results file."""
        return f"{self.location}/{RESULTS_NAME}"

    @property
    def _root(self) -> ObjectStoragePath:
        if self._root_path is None:
            # Resolving the file system reads the Airflow connection and, for S3, starts a session.
            if self._conn_id:
                root = ObjectStoragePath(self._location, conn_id=self._conn_id)
            else:
                root = ObjectStoragePath(self._location)
            self._fs = root.fs
            self._local = root.protocol in _LOCAL_PROTOCOLS
            self._root_path = root
        return self._root_path

    def open(self, *, fingerprint: str, items: int, mode: str, model: str) -> ResumeState:
        """Claim the location for this batch, or find what an earlier attempt of it wrote.

        Raises :class:`BatchOutputConflictError` when the location holds another batch's output.
        """
        self._items = items
        root = self._root
        self._fs.invalidate_cache(root.path)
        metadata = self._read_json(METADATA_NAME)
        if metadata is None:
            self._refuse_foreign_content()
            created = {
                "layout": _LAYOUT_VERSION,
                "fingerprint": fingerprint,
                "items": items,
                "mode": mode,
                "model": model,
                "created_at": datetime.now(timezone.utc).isoformat(),
            }
            self._write_object(self._child(METADATA_NAME), [_json_bytes(created)])
        elif metadata.get("fingerprint") != fingerprint or metadata.get("items") != items:
            raise BatchOutputConflictError(
                f"{self.location} already holds results of a different batch "
                f"({metadata.get('items')} {metadata.get('mode')} items for model {metadata.get('model')!r}, "
                f"fingerprint {str(metadata.get('fingerprint'))[:12]}; this batch: {items} {mode} items for "
                f"{model!r}, fingerprint {fingerprint[:12]}): the prompts, model or options changed. "
                "Point the output at a new location (for example one per run), or delete this one to start over"
            )

        completed = self._read_json(COMPLETE_MARKER_NAME)
        if completed is not None:
            if not completed.get("failed"):
                return ResumeState(todo=[], resumed=items, completed=completed)  # type: ignore[arg-type]
            # A retry of a batch that ended with failed items: generate those again. Until this run
            # finishes, results.jsonl is no longer final.
            self._fs.rm_file(self._child(COMPLETE_MARKER_NAME).path)

        status, last_generation = self._scan()
        self._generation = last_generation + 1
        self._next_sequence = 0
        todo = [index for index, state in enumerate(status) if state != _SUCCEEDED]
        return ResumeState(todo=todo, resumed=items - len(todo))

    def write_part(self, records: Sequence[ItemRecord]) -> None:
        """Write ``records`` (ascending index, after any earlier part of this run) as one part file."""
        if not records:
            return
        name = f"{self._generation:04d}-{self._next_sequence:06d}.jsonl"
        self._next_sequence += 1
        self._write_object(self._child(PARTS_DIR, name), [_json_line(record) for record in records])

    def combine(self) -> CombinedCounts:
        """Merge everything written into ``results.jsonl``: each index once, in order, the latest winning.

        Streams: memory holds one part per attempt, not the whole result.
        """
        self._fs.invalidate_cache(self._root.path)
        merged = heapq.merge(*self._sources(), key=lambda entry: (entry[0], -entry[1]))
        counts = {"expected": 0, "succeeded": 0, "failed": 0}

        def ordered_lines() -> Iterator[bytes]:
            for index, _generation, failed, line in merged:
                if index < counts["expected"]:
                    continue  # an older attempt's record of an index a later attempt rewrote
                if index != counts["expected"]:
                    raise BatchOutputCorruptError(
                        f"{self.location}: no record for item {counts['expected']} in the part files; "
                        "delete the location and run the batch again"
                    )
                counts["expected"] += 1
                counts["failed" if failed else "succeeded"] += 1
                yield line

        self._write_object(self._child(RESULTS_NAME), ordered_lines())
        if counts["expected"] != self._items:
            self._fs.rm_file(self._child(RESULTS_NAME).path)
            raise BatchOutputCorruptError(
                f"{self.location}: the part files hold {counts['expected']} of {self._items} items; "
                "delete the location and run the batch again"
            )
        return CombinedCounts(items=self._items, succeeded=counts["succeeded"], failed=counts["failed"])

    def mark_complete(self, summary: BatchSummary) -> None:
        """Write the completion marker (the summary), then drop the parts unless asked to keep them."""
        self._write_object(self._child(COMPLETE_MARKER_NAME), [_json_bytes(dict(summary))])
        if not self._keep_parts:
            for names in self._parts_by_generation().values():
                for name in names:
                    self._fs.rm_file(self._child(PARTS_DIR, name).path)

    # --- reading ---------------------------------------------------------------------------------

    def _scan(self) -> tuple[bytearray, int]:
        """The state of every index (missing, succeeded, failed) and the last attempt's number."""
        status = bytearray(self._items)
        # Sources come oldest first, so a later attempt's record overwrites an earlier one.
        for index, _generation, failed, _line in itertools.chain(*self._sources()):
            if 0 <= index < self._items:
                status[index] = _FAILED if failed else _SUCCEEDED
        return status, max(self._parts_by_generation(), default=0)

    def _sources(self) -> list[Iterator[tuple[int, int, bool, bytes]]]:
        """One ascending stream of ``(index, generation, failed, line)`` per attempt, oldest first.

        ``results.jsonl`` from an earlier finished run counts as generation 0.
        """
        sources = [self._read_lines(_RESULTS_GENERATION, [self._child(RESULTS_NAME)])]
        for generation, names in self._parts_by_generation().items():
            sources.append(self._read_lines(generation, [self._child(PARTS_DIR, name) for name in names]))
        return sources

    def _parts_by_generation(self) -> dict[int, list[str]]:
        try:
            paths = self._fs.ls(self._child(PARTS_DIR).path, detail=False)
        except FileNotFoundError:
            return {}
        found: dict[int, list[str]] = {}
        for path in paths:
            name = str(path).rstrip("/").rsplit("/", 1)[-1]
            generation = _part_generation(name)
            if generation is not None:
                found.setdefault(generation, []).append(name)
        return {generation: sorted(found[generation]) for generation in sorted(found)}

    def _read_lines(
        self, generation: int, paths: list[ObjectStoragePath]
    ) -> Iterator[tuple[int, int, bool, bytes]]:
        previous = -1
        for path in paths:
            try:
                handle = self._fs.open(path.path, "rb", block_size=_READ_BLOCK_BYTES)
            except FileNotFoundError:
                continue
            with handle:
                for line in handle:
                    if not line.strip():
                        continue
                    record = json.loads(line)
                    index = record["index"]
                    if index <= previous:
                        raise BatchOutputCorruptError(
                            f"{path} is out of order at item {index}; delete the location and run the batch again"
                        )
                    previous = index
                    yield index, generation, "error" in record, line

    def _read_json(self, name: str) -> dict[str, Any] | None:
        path = self._child(name)
        try:
            data = self._fs.cat_file(path.path)
        except FileNotFoundError:
            return None
        value = json.loads(data)
        if not isinstance(value, dict):
            raise BatchOutputConflictError(f"{path} is not a batch output file; point the output elsewhere")
        return value

    def _refuse_foreign_content(self) -> None:
        for name in (RESULTS_NAME, PARTS_DIR, COMPLETE_MARKER_NAME):
            if self._fs.exists(self._child(name).path):
                raise BatchOutputConflictError(
                    f"{self.location} holds {name} but no {METADATA_NAME}, so it cannot be proven to "
                    "belong to this batch; point the output at an empty location or delete this one"
                )

    # --- writing ---------------------------------------------------------------------------------

    def _child(self, *names: str) -> ObjectStoragePath:
        path = self._root
        for name in names:
            path = path / name
        return path

    def _write_object(self, path: ObjectStoragePath, chunks: Iterable[bytes]) -> None:
        """Write ``path`` so that readers see all of it or nothing, whatever happens midway."""
        if self._local:
            parent = path.parent
            self._fs.makedirs(parent.path, exist_ok=True)
            temporary = parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
            try:
                with self._fs.open(temporary.path, "wb") as handle:
                    for chunk in chunks:
                        handle.write(chunk)
                # A rename within one directory is atomic on a local file system.
                self._fs.mv(temporary.path, path.path)
            except BaseException:
                if self._fs.exists(temporary.path):
                    self._fs.rm_file(temporary.path)
                raise
            return
        # Object stores publish an object only when its upload is committed; discarding on error
        # aborts a multipart upload instead of committing a truncated object.
        handle = self._fs.open(path.path, "wb", autocommit=False)
        try:
            for chunk in chunks:
                handle.write(chunk)
            handle.close()
            handle.commit()
        except BaseException:
            handle.discard()
            raise


def _part_generation(name: str) -> int | None:
    stem, dot, extension = name.partition(".")
    generation, dash, sequence = stem.partition("-")
    if dot and extension == "jsonl" and dash and generation.isdigit() and sequence.isdigit():
        return int(generation)
    return None


def _json_line(record: ItemRecord) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _json_bytes(value: dict[str, Any]) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode() + b"\n"
