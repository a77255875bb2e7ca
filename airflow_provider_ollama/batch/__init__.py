"""Batch generation engine: many prompts, conversations or embed inputs through one async client.

The generate operators compose it: validate arguments, build a batch, ``await run_batch(hook, batch)``;
results come back in input order, or go to a resumable JSONL output in object storage.
"""

from __future__ import annotations

from airflow_provider_ollama.batch.client import AsyncClientAdapter, GenerationClient
from airflow_provider_ollama.batch.formats import ResponseFormatError, validate_format
from airflow_provider_ollama.batch.requests import (
    DEFAULT_EMBED_BATCH_SIZE,
    Batch,
    ChatBatch,
    EmbedBatch,
    GenerateBatch,
    GenerationOptions,
)
from airflow_provider_ollama.batch.results import (
    BatchSummary,
    EmbeddingRecord,
    ErrorRecord,
    GenerationRecord,
    ItemRecord,
)
from airflow_provider_ollama.batch.retry import RetryPolicy, is_transient
from airflow_provider_ollama.batch.runner import DEFAULT_MAX_CONCURRENCY, BatchOutcome, run_batch
from airflow_provider_ollama.batch.sink import (
    BatchOutputConflictError,
    BatchOutputCorruptError,
    JsonlResultSink,
)
from airflow_provider_ollama.batch.validation import (
    OnError,
    PromptItem,
    validate_conversations,
    validate_embed_inputs,
    validate_max_concurrency,
    validate_on_error,
    validate_options,
    validate_prompts,
)

__all__ = [
    "DEFAULT_EMBED_BATCH_SIZE",
    "DEFAULT_MAX_CONCURRENCY",
    "AsyncClientAdapter",
    "Batch",
    "BatchOutcome",
    "BatchOutputConflictError",
    "BatchOutputCorruptError",
    "BatchSummary",
    "ChatBatch",
    "EmbedBatch",
    "EmbeddingRecord",
    "ErrorRecord",
    "GenerateBatch",
    "GenerationClient",
    "GenerationOptions",
    "GenerationRecord",
    "ItemRecord",
    "JsonlResultSink",
    "OnError",
    "PromptItem",
    "ResponseFormatError",
    "RetryPolicy",
    "is_transient",
    "run_batch",
    "validate_conversations",
    "validate_embed_inputs",
    "validate_format",
    "validate_max_concurrency",
    "validate_on_error",
    "validate_options",
    "validate_prompts",
]
