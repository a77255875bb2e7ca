"""Local paths resolve like Ollama's, stay inside their directory, and directories list Ollama's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_ollama.modelfile.paths import (
    LocalPathError,
    check_inside,
    check_usable,
    files_to_upload,
    is_path_like,
    resolve_local_path,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/abs/x", True),
        ("./x", True),
        ("../x", True),
        ("~/x", True),
        (".", True),
        ("x.gguf", False),
        ("a/b", False),
    ],
)
def test_path_like_values(value: str, expected: bool) -> None:
    assert is_path_like(value) is expected


def test_relative_path_is_joined_and_folded_without_following_symlinks(tmp_path: Path) -> None:
    assert resolve_local_path("./a/../b.gguf", tmp_path) == tmp_path / "b.gguf"


def test_unknown_user_home_is_reported() -> None:
    with pytest.raises(LocalPathError, match="no such user"):
        resolve_local_path("~no-such-user-here/x.gguf", None)


def test_directory_itself_counts_as_inside(tmp_path: Path) -> None:
    check_inside(tmp_path, tmp_path)


def test_weights_groups_are_tried_in_ollamas_order(tmp_path: Path) -> None:
    for name in ("consolidated.safetensors", "pytorch_model.bin", "x.gguf", "tokenizer.json"):
        (tmp_path / name).write_bytes(b"w")
    # consolidated*.safetensors wins over pytorch and GGUF files; JSON configs always come along.
    assert list(files_to_upload(tmp_path)) == [
        tmp_path / "consolidated.safetensors",
        tmp_path / "tokenizer.json",
    ]


def test_gguf_directory_uploads_its_gguf_files_and_chat_template(tmp_path: Path) -> None:
    (tmp_path / "b.gguf").write_bytes(b"GGUF")
    (tmp_path / "a.gguf").write_bytes(b"GGUF")
    (tmp_path / "chat_template.jinja").write_text("{{ messages }}")
    assert files_to_upload(tmp_path) == {
        tmp_path / "a.gguf": "a.gguf",
        tmp_path / "b.gguf": "b.gguf",
        tmp_path / "chat_template.jinja": "chat_template.jinja",
    }


def test_symlink_out_of_a_weights_directory_is_refused(tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    (tmp_path / "outside.safetensors").write_bytes(b"w")
    (weights / "model.safetensors").symlink_to(tmp_path / "outside.safetensors")
    with pytest.raises(LocalPathError, match="outside"):
        files_to_upload(weights)


def test_git_lfs_pointer_is_refused(tmp_path: Path) -> None:
    pointer = tmp_path / "w.gguf"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n")
    with pytest.raises(LocalPathError, match="is a Git LFS pointer") as caught:
        check_usable(pointer)
    assert "git lfs pull" in caught.value.hint
