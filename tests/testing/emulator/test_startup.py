"""What serve does before answering: key pair, start-up prune, legacy blob names, log format."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pytest

from airflow_provider_ollama.store import ModelStore, sha256_digest
from airflow_provider_ollama.testing.emulator.keypair import generate, public_key
from airflow_provider_ollama.testing.emulator.settings import EmulatorSettings
from airflow_provider_ollama.testing.emulator.startup import (
    StartupError,
    initialize_keypair,
    prepare_store,
    slog_line,
)
from airflow_provider_ollama.testing.emulator.storage import fix_blob_names, prune_store

_TWO_HOURS_AGO = time.time() - 7200


def _blob(store: ModelStore, data: bytes, *, old: bool) -> Path:
    path = store.blob_path(sha256_digest(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if old:
        os.utime(path, (_TWO_HOURS_AGO, _TWO_HOURS_AGO))
    return path


def _manifest_for(store: ModelStore, config: bytes) -> None:
    document = (
        '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
        f'"config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{sha256_digest(config)}",'
        f'"size":{len(config)}}},"layers":[]}}'
    )
    path = store.manifests_dir / "registry.ollama.ai" / "library" / "kept" / "latest"
    path.parent.mkdir(parents=True)
    path.write_text(document)


def test_prune_removes_only_old_unreferenced_blobs(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    referenced = _blob(store, b"{}", old=True)
    _manifest_for(store, b"{}")
    old_orphan = _blob(store, b"old orphan", old=True)
    young_orphan = _blob(store, b"young orphan", old=False)
    stale_partial = store.blobs_dir / (referenced.name + "x-partial")
    stale_partial.write_bytes(b"")
    os.utime(stale_partial, (_TWO_HOURS_AGO, _TWO_HOURS_AGO))
    assert prune_store(store) == 2
    assert referenced.exists()
    assert young_orphan.exists(), "a restore in progress is younger than an hour"
    assert not old_orphan.exists()
    assert not stale_partial.exists()


def test_prune_is_skipped_while_a_manifest_is_corrupt(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    orphan = _blob(store, b"orphan", old=True)
    broken = store.manifests_dir / "registry.ollama.ai" / "library" / "broken" / "latest"
    broken.parent.mkdir(parents=True)
    broken.write_text("not json")
    assert prune_store(store) == 0
    assert orphan.exists()


def test_noprune_setting_keeps_everything(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    orphan = _blob(store, b"orphan", old=True)
    prepare_store(EmulatorSettings(models_dir=tmp_path, noprune=True), lambda line: None)
    assert orphan.exists()
    prepare_store(EmulatorSettings(models_dir=tmp_path), lambda line: None)
    assert not orphan.exists()


def test_legacy_colon_blob_names_are_renamed(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    store.blobs_dir.mkdir(parents=True)
    legacy = store.blobs_dir / ("sha256:" + "a" * 64)
    legacy.write_bytes(b"x")
    assert fix_blob_names(store) == 1
    assert (store.blobs_dir / ("sha256-" + "a" * 64)).read_bytes() == b"x"


def test_prepare_store_creates_the_blobs_directory(tmp_path: Path) -> None:
    lines: list[str] = []
    prepare_store(EmulatorSettings(models_dir=tmp_path / "a" / "b"), lines.append)
    assert (tmp_path / "a" / "b" / "blobs").is_dir()
    assert any("total blobs: 0" in line for line in lines)


def test_key_pair_is_a_valid_openssh_ed25519_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    out = io.StringIO()
    initialize_keypair(tmp_path, out)
    private = (tmp_path / ".ollama" / "id_ed25519").read_bytes()
    public = (tmp_path / ".ollama" / "id_ed25519.pub").read_bytes()
    key = serialization.load_ssh_private_key(private, None)
    derived = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    assert derived + b"\n" == public
    assert oct((tmp_path / ".ollama" / "id_ed25519").stat().st_mode & 0o777) == "0o600"
    assert public.decode().strip() in out.getvalue()


def test_public_key_matches_rfc_8032_test_vector() -> None:
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    expected = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    assert public_key(seed) == expected


def test_generated_keys_differ() -> None:
    assert generate()[0] != generate()[0]


def test_home_that_cannot_hold_the_key_is_a_startup_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(
        StartupError, match=f"could not create directory mkdir {re.escape(str(blocker))}: not a directory"
    ):
        initialize_keypair(blocker / "home", io.StringIO())


def test_log_lines_use_ollamas_slog_format() -> None:
    line = slog_line("INFO", "routes.go:1384", "Listening on 127.0.0.1:11434 (version 0.12.6)")
    assert re.fullmatch(
        r'time=\S+ level=INFO source=routes\.go:1384 msg="Listening on 127\.0\.0\.1:11434 \(version 0\.12\.6\)"',
        line,
    )
