"""Restoring into a shared server through its API: blobs streamed from S3 to /api/blobs, /api/create rebuilds.

The "shared server" is an emulator this test reaches only over HTTP; the cache was filled from another
emulator's store, which pulled the model from the registry emulator.
"""

from __future__ import annotations

import json
import tracemalloc
from dataclasses import replace
from typing import Any

import pytest

from airflow_provider_ollama.cache import S3ModelCache
from airflow_provider_ollama.exceptions import OllamaCacheIntegrityError
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import Manifest, blob_filename
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.gguf import GGUFSpec
from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from airflow_provider_ollama.testing.registry import RegistryModelSpec
from airflow_provider_ollama.testing.registry.catalogue import TINY_Q8
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.cache.support import BUCKET
from tests.support.moto_s3 import aws_connection_json, make_s3_client, moto_s3_in_a_child_process

PREFIX = "team/models"
#: tiny:q8 has every layer /api/create can take (template, system, params, license, messages) and a
#: config naming a renderer and a parser, which only raw create fields can carry.
RICH = replace(
    TINY_Q8, repository="library/rich", tag="latest", config_extra={"renderer": "r1", "parser": "p1"}
)


def start_emulator(factory: EmulatorFactory) -> OllamaEmulator:
    emulator = factory()
    assert isinstance(emulator, OllamaEmulator)
    return emulator


def fill_cache(
    cache: S3ModelCache, factory: EmulatorFactory, registry: RegistryEmulator, spec: RegistryModelSpec
) -> tuple[str, Manifest]:
    """Pull ``spec`` from the registry into a scratch emulator and save it to the cache."""
    registry.add_model(spec)
    model = registry.model_name(f"{spec.repository}:{spec.tag}")
    source = start_emulator(factory)
    OllamaHook(base_url=source.url).pull(model, insecure=True)
    cache.save(source.store, model, raise_errors=True)
    manifest = source.store.read_manifest(ModelName.parse(model))
    assert manifest is not None
    return model, manifest


@pytest.fixture
def shared(ollama_emulator_factory: EmulatorFactory) -> OllamaEmulator:
    return start_emulator(ollama_emulator_factory)


@pytest.fixture
def rich_model(
    cache: S3ModelCache, ollama_emulator_factory: EmulatorFactory, ollama_registry: RegistryEmulator
) -> tuple[str, Manifest]:
    return fill_cache(cache, ollama_emulator_factory, ollama_registry, RICH)


def test_a_cached_model_reaches_a_shared_server_through_its_api_without_the_registry(
    cache: S3ModelCache,
    rich_model: tuple[str, Manifest],
    shared: OllamaEmulator,
    ollama_registry: RegistryEmulator,
) -> None:
    model, manifest = rich_model
    ollama_registry.reset()
    hook = OllamaHook(base_url=shared.url)

    report = cache.restore_to_server(hook, model)

    weights = manifest.layers[0]
    assert report.hit
    assert shared.stats.counter("blob_uploads") == 1
    assert shared.store.blob_path(weights.digest).stat().st_size == weights.size
    assert hook.generate(model, "Hello", options={"num_predict": 4}).response
    assert ollama_registry.stats.total_requests == 0


def test_the_rebuilt_model_has_the_cached_layers_and_config_fields(
    cache: S3ModelCache, rich_model: tuple[str, Manifest], shared: OllamaEmulator, s3_client: Any
) -> None:
    model, original = rich_model

    cache.restore_to_server(OllamaHook(base_url=shared.url), model)

    rebuilt = shared.store.read_manifest(ModelName.parse(model))
    assert rebuilt is not None
    for kind in ("model", "template", "system", "license"):
        assert _layer_digest(rebuilt, kind) == _layer_digest(original, kind), kind
    for kind in ("params", "messages"):
        assert _json_layer(shared, rebuilt, kind) == _cached_json_layer(s3_client, original, kind), kind
    config = json.loads(shared.store.blob_path(rebuilt.config.digest).read_bytes())
    assert (config["renderer"], config["parser"]) == ("r1", "p1")


def test_the_rebuilt_model_has_the_servers_own_digest_not_the_registrys(
    cache: S3ModelCache, rich_model: tuple[str, Manifest], shared: OllamaEmulator
) -> None:
    model, original = rich_model

    cache.restore_to_server(OllamaHook(base_url=shared.url), model)

    assert OllamaHook(base_url=shared.url).model_digest(model) != original.digest


def test_blobs_the_server_already_has_are_not_uploaded_again(
    cache: S3ModelCache, rich_model: tuple[str, Manifest], shared: OllamaEmulator
) -> None:
    model, _ = rich_model
    hook = OllamaHook(base_url=shared.url)
    cache.restore_to_server(hook, model)

    again = cache.restore_to_server(hook, model)

    assert again.blobs_already_local == 1
    assert shared.stats.counter("blob_uploads") == 1


def test_corrupt_weights_in_s3_never_reach_the_server(
    cache: S3ModelCache, rich_model: tuple[str, Manifest], shared: OllamaEmulator, s3_client: Any
) -> None:
    model, manifest = rich_model
    weights = manifest.layers[0]
    key = f"{PREFIX}/blobs/{blob_filename(weights.digest)}"
    metadata = s3_client.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    s3_client.put_object(Bucket=BUCKET, Key=key, Body=b"\0" * weights.size, Metadata=metadata)
    hook = OllamaHook(base_url=shared.url)

    with pytest.raises(OllamaCacheIntegrityError, match="corrupt"):
        cache.restore_to_server(hook, model)

    assert not hook.blob_exists(weights.digest)
    assert not hook.has_model(model)
    assert cache.objects.cached_blob(weights)[1] is False, "the next save must overwrite the bad copy"


def test_a_truncated_template_fails_before_any_upload(
    cache: S3ModelCache, rich_model: tuple[str, Manifest], shared: OllamaEmulator, s3_client: Any
) -> None:
    model, manifest = rich_model
    template = manifest.layer("template")
    assert template is not None
    s3_client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/blobs/{blob_filename(template.digest)}", Body=b"{{")

    with pytest.raises(OllamaCacheIntegrityError, match="truncated"):
        cache.restore_to_server(OllamaHook(base_url=shared.url), model)

    assert shared.stats.counter("blob_uploads") == 0


def test_a_model_not_in_the_cache_is_a_miss(cache: S3ModelCache, bucket: str, shared: OllamaEmulator) -> None:
    report = cache.restore_to_server(OllamaHook(base_url=shared.url), "never-saved:latest")

    assert report.status == "miss"
    assert shared.stats.counter("creates") == 0


def test_weights_stream_from_s3_to_the_server_in_bounded_memory(
    ollama_emulator_factory: EmulatorFactory,
    ollama_registry: RegistryEmulator,
    shared: OllamaEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # moto in its own process: it copies whole objects for each GET, which is not ours to measure.
    with moto_s3_in_a_child_process() as endpoint:
        monkeypatch.setenv("AIRFLOW_CONN_MEMORY_S3", aws_connection_json(endpoint))
        make_s3_client(endpoint).create_bucket(Bucket=BUCKET)
        cache = S3ModelCache(f"s3://{BUCKET}/models", aws_conn_id="memory_s3")
        spec = replace(
            RICH, repository="library/heavy", gguf=GGUFSpec(name="heavy", size_bytes=48 << 20, seed="h")
        )
        model, _ = fill_cache(cache, ollama_emulator_factory, ollama_registry, spec)
        hook = OllamaHook(base_url=shared.url)
        hook.version()  # open the connection pool first: it is not what is measured

        tracemalloc.start()
        try:
            cache.restore_to_server(hook, model)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    # The emulator receiving the upload runs in this process too: the bound covers both ends.
    assert peak < 16 << 20, f"peak Python allocation {peak >> 20} MiB while streaming 48 MiB"


def _layer_digest(manifest: Manifest, kind: str) -> str | None:
    layer = manifest.layer(kind)
    return None if layer is None else layer.digest


def _json_layer(emulator: OllamaEmulator, manifest: Manifest, kind: str) -> Any:
    layer = manifest.layer(kind)
    assert layer is not None, kind
    return json.loads(emulator.store.blob_path(layer.digest).read_bytes())


def _cached_json_layer(s3_client: Any, manifest: Manifest, kind: str) -> Any:
    layer = manifest.layer(kind)
    assert layer is not None, kind
    key = f"{PREFIX}/blobs/{blob_filename(layer.digest)}"
    return json.loads(s3_client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
