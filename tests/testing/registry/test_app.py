"""The registry emulator speaks Ollama's pull and push protocol over real HTTP."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_ollama.store import MANIFEST_MEDIA_TYPE, sha256_digest
from airflow_provider_ollama.testing.registry import RegistryEmulator
from airflow_provider_ollama.testing.registry.app import RangeNotSatisfiable, parse_range

ACCEPT_MANIFEST = {"Accept": MANIFEST_MEDIA_TYPE}


@pytest.fixture
def client(ollama_registry: RegistryEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ollama_registry.url, timeout=10) as http:
        yield http


def _manifest(client: httpx.Client, repository: str = "library/tiny", tag: str = "latest") -> dict[str, Any]:
    response = client.get(f"/v2/{repository}/manifests/{tag}", headers=ACCEPT_MANIFEST)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = json.loads(response.content)
    return document


def _model_layer(client: httpx.Client, repository: str = "library/tiny") -> dict[str, Any]:
    layer: dict[str, Any] = _manifest(client, repository)["layers"][0]
    return layer


def _cdn_url(client: httpx.Client, repository: str, digest: str) -> str:
    redirect = client.get(f"/v2/{repository}/blobs/{digest}")
    assert redirect.status_code == 307
    return redirect.headers["location"]


def pull_like_ollama(client: httpx.Client, repository: str, tag: str, part_size: int) -> dict[str, bytes]:
    """What Ollama's downloader does: manifest, HEAD for the size, GET for the Location, ranged parts."""
    manifest = _manifest(client, repository, tag)
    blobs = {}
    for descriptor in [*manifest["layers"], manifest["config"]]:
        digest = descriptor["digest"]
        size = int(client.head(f"/v2/{repository}/blobs/{digest}").headers["content-length"])
        location = _cdn_url(client, repository, digest)
        parts = []
        for first in range(0, size, part_size):
            last = min(first + part_size, size) - 1
            part = client.get(location, headers={"Range": f"bytes={first}-{last}"})
            assert part.status_code == 206
            parts.append(part.content)
        blobs[digest] = b"".join(parts)
    return blobs


# ---------------------------------------------------------------------------------------- pull


@pytest.mark.smoke
def test_pull_like_ollama_gets_every_blob_with_its_digest(client: httpx.Client) -> None:
    blobs = pull_like_ollama(client, "library/tiny", "latest", part_size=300_000)

    assert len(blobs) == 5
    for digest, data in blobs.items():
        assert sha256_digest(data) == digest


def test_ping_answers_200(client: httpx.Client) -> None:
    assert client.get("/v2/").status_code == 200


def test_manifest_has_docker_content_type_and_digest_header(client: httpx.Client) -> None:
    response = client.get("/v2/library/tiny/manifests/latest", headers=ACCEPT_MANIFEST)

    assert response.headers["content-type"] == MANIFEST_MEDIA_TYPE
    assert response.headers["docker-content-digest"] == sha256_digest(response.content)


def test_manifest_head_gives_length_without_body(client: httpx.Client) -> None:
    full = client.get("/v2/library/tiny/manifests/latest")
    head = client.head("/v2/library/tiny/manifests/latest")

    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(full.content)


def test_unknown_manifest_is_404_with_registry_error_body(client: httpx.Client) -> None:
    response = client.get("/v2/library/missing/manifests/latest")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


def test_unknown_tag_is_404(client: httpx.Client) -> None:
    assert client.get("/v2/library/tiny/manifests/q2").status_code == 404


def test_one_segment_repository_means_library(client: httpx.Client) -> None:
    assert client.get("/v2/tiny/manifests/q8").content == client.get("/v2/library/tiny/manifests/q8").content


def test_three_segment_repository_is_name_unknown(client: httpx.Client) -> None:
    response = client.get("/v2/a/b/c/manifests/latest")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_blob_head_reports_content_length(client: httpx.Client) -> None:
    layer = _model_layer(client)

    response = client.head(f"/v2/library/tiny/blobs/{layer['digest']}")

    assert response.status_code == 200
    assert int(response.headers["content-length"]) == layer["size"]


def test_blob_get_redirects_307_to_a_cdn_path_under_another_hostname(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    digest = _model_layer(client)["digest"]

    response = client.get(f"/v2/library/tiny/blobs/{digest}")

    assert response.status_code == 307
    location = httpx.URL(response.headers["location"])
    # Ollama follows same-hostname redirects and then finds no Location: the CDN must look elsewhere.
    assert location.host == "localhost"
    assert location.port == ollama_registry.port
    assert location.path == f"/_cdn/blobs/{digest}"


def test_registry_reached_as_localhost_redirects_to_127_0_0_1(ollama_registry: RegistryEmulator) -> None:
    model = ollama_registry.catalogue.model("library/tiny")
    assert model is not None

    response = httpx.get(
        f"http://localhost:{ollama_registry.port}/v2/library/tiny/blobs/{model.model_digest}"
    )

    assert httpx.URL(response.headers["location"]).host == "127.0.0.1"


def test_whole_blob_response_also_names_its_direct_url(client: httpx.Client) -> None:
    digest = _model_layer(client)["digest"]

    followed = client.get(f"/v2/library/tiny/blobs/{digest}", follow_redirects=True)

    assert followed.status_code == 200
    assert followed.headers["location"] == str(followed.url)


def test_cdn_serves_the_whole_blob_with_200(client: httpx.Client) -> None:
    layer = _model_layer(client)

    response = client.get(_cdn_url(client, "library/tiny", layer["digest"]))

    assert response.status_code == 200
    assert response.headers["accept-ranges"] == "bytes"
    assert len(response.content) == layer["size"]
    assert "sha256:" + hashlib.sha256(response.content).hexdigest() == layer["digest"]


def test_following_the_redirect_yields_the_blob(client: httpx.Client) -> None:
    config = _manifest(client)["config"]

    response = client.get(f"/v2/library/tiny/blobs/{config['digest']}", follow_redirects=True)

    assert json.loads(response.content)["model_format"] == "gguf"


def test_cdn_range_is_206_with_content_range(client: httpx.Client) -> None:
    layer = _model_layer(client)
    url = _cdn_url(client, "library/tiny", layer["digest"])
    whole = client.get(url).content

    response = client.get(url, headers={"Range": "bytes=100-1099"})

    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 100-1099/{layer['size']}"
    assert response.content == whole[100:1100]


def test_cdn_open_ended_and_suffix_ranges(client: httpx.Client) -> None:
    layer = _model_layer(client)
    url = _cdn_url(client, "library/tiny", layer["digest"])
    whole = client.get(url).content

    assert client.get(url, headers={"Range": f"bytes={layer['size'] - 5}-"}).content == whole[-5:]
    assert client.get(url, headers={"Range": "bytes=-7"}).content == whole[-7:]


def test_cdn_range_beyond_the_blob_is_416(client: httpx.Client) -> None:
    layer = _model_layer(client)

    response = client.get(
        _cdn_url(client, "library/tiny", layer["digest"]), headers={"Range": f"bytes={layer['size']}-"}
    )

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{layer['size']}"


def test_unknown_blob_is_404_and_bad_digest_is_400(client: httpx.Client) -> None:
    missing = client.get(f"/v2/library/tiny/blobs/sha256:{'a' * 64}")
    bad = client.head("/v2/library/tiny/blobs/sha256:nothex")

    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
    assert bad.status_code == 400


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 9)),
        ("bytes=5-", (5, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=90-500", (90, 99)),
        ("bytes=0-1,5-6", None),  # multi-range: whole blob
        ("items=0-1", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=9-3", "bytes=-0"])
def test_parse_range_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


# ---------------------------------------------------------------------------------------- push


def _push_blob(client: httpx.Client, repository: str, data: bytes, part_size: int) -> httpx.Response:
    """What Ollama's uploader does: POST for a location, PATCH parts with Content-Range, PUT ?digest=."""
    start = client.post(f"/v2/{repository}/blobs/uploads/")
    assert start.status_code == 202
    location = start.headers["docker-upload-location"]
    for first in range(0, len(data), part_size):
        part = data[first : first + part_size]
        patch = client.patch(
            location,
            content=part,
            headers={"Content-Range": f"{first}-{first + len(part) - 1}", "X-Redirect-Uploads": "1"},
        )
        assert patch.status_code == 202, patch.text
        location = patch.headers["location"]
    return client.put(location, params={"digest": sha256_digest(data), "etag": "ignored-1"})


def test_push_round_trip_can_be_pulled_back(client: httpx.Client, ollama_registry: RegistryEmulator) -> None:
    model_bytes = b"GGUF" + bytes(range(256)) * 1000
    config = b'{"model_format":"gguf"}'
    for data in (model_bytes, config):
        committed = _push_blob(client, "team/pushed", data, part_size=100_000)
        assert committed.status_code == 201, committed.text
        assert committed.headers["docker-content-digest"] == sha256_digest(data)
        assert client.head(f"/v2/team/pushed/blobs/{sha256_digest(data)}").status_code == 200
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": sha256_digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.ollama.image.model",
                    "digest": sha256_digest(model_bytes),
                    "size": len(model_bytes),
                }
            ],
        }
    ).encode()

    put = client.put(
        "/v2/team/pushed/manifests/v1", content=manifest, headers={"Content-Type": MANIFEST_MEDIA_TYPE}
    )

    assert put.status_code == 201
    assert "team/pushed:v1" in ollama_registry.models
    assert client.get("/v2/team/pushed/manifests/v1").content == manifest
    assert (
        pull_like_ollama(client, "team/pushed", "v1", part_size=65_536)[sha256_digest(model_bytes)]
        == model_bytes
    )
    assert ollama_registry.stats.bytes_received == len(model_bytes) + len(config)


def test_upload_with_wrong_digest_is_400_digest_invalid(client: httpx.Client) -> None:
    location = client.post("/v2/team/m/blobs/uploads/").headers["location"]
    client.patch(location, content=b"real bytes", headers={"Content-Range": "0-9"})

    response = client.put(location, params={"digest": sha256_digest(b"other bytes")})

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert client.head(f"/v2/team/m/blobs/{sha256_digest(b'real bytes')}").status_code == 404


def test_monolithic_put_with_the_body_commits(client: httpx.Client) -> None:
    location = client.post("/v2/team/m/blobs/uploads/").headers["location"]

    response = client.put(location, params={"digest": sha256_digest(b"whole")}, content=b"whole")

    assert response.status_code == 201


def test_patch_that_skips_bytes_is_416(client: httpx.Client) -> None:
    location = client.post("/v2/team/m/blobs/uploads/").headers["location"]

    response = client.patch(location, content=b"abc", headers={"Content-Range": "10-12"})

    assert response.status_code == 416


def test_unknown_upload_is_404(client: httpx.Client) -> None:
    response = client.patch("/v2/team/m/blobs/uploads/nope", content=b"x")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_mount_of_a_known_blob_is_201(client: httpx.Client) -> None:
    digest = _model_layer(client)["digest"]

    response = client.post("/v2/team/m/blobs/uploads/", params={"mount": digest, "from": "library/tiny"})

    assert response.status_code == 201
    assert response.headers["docker-content-digest"] == digest


def test_manifest_naming_a_missing_blob_is_rejected(client: httpx.Client) -> None:
    manifest = _manifest(client)
    manifest["layers"][0]["digest"] = "sha256:" + "b" * 64

    response = client.put("/v2/team/m/manifests/latest", content=json.dumps(manifest).encode())

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"


def test_invalid_manifest_is_rejected(client: httpx.Client) -> None:
    response = client.put("/v2/team/m/manifests/latest", content=b"not json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "MANIFEST_INVALID"
