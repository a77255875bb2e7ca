"""Every fault of the registry emulator has the effect it promises, and only where it is scoped."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_ollama.testing.emulator import keypair
from airflow_provider_ollama.testing.emulator.registry_auth import parse_challenge, signed_data, token_url
from airflow_provider_ollama.testing.registry import Fault, FaultType, RegistryEmulator

TINY = "/v2/library/tiny"
WAIT_S = 10.0


@pytest.fixture
def client(ollama_registry: RegistryEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ollama_registry.url, timeout=WAIT_S) as http:
        yield http


def _layer(registry: RegistryEmulator, kind: str = "model") -> tuple[str, int]:
    model = registry.catalogue.model("library/tiny")
    assert model is not None
    layer = model.manifest.layer(kind)
    assert layer is not None
    return layer.digest, layer.size


def _cdn(registry: RegistryEmulator, digest: str) -> str:
    return f"{registry.url}/_cdn/blobs/{digest}"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _download_until_failure(
    client: httpx.Client, url: str, headers: dict[str, str] | None = None
) -> tuple[bytes, httpx.HTTPError | None]:
    """The bytes received before the transfer failed (or ended), and the failure."""
    received = bytearray()
    try:
        with client.stream("GET", url, headers=headers) as response:
            for chunk in response.iter_raw():
                received += chunk
    except httpx.HTTPError as error:
        return bytes(received), error
    return bytes(received), None


class _BackgroundDownload:
    """Downloads a URL in a thread, announcing when the first ``announce_at`` bytes have arrived."""

    def __init__(self, url: str, announce_at: int) -> None:
        self.received = bytearray()
        self.error: BaseException | None = None
        self.reached = threading.Event()
        self._url = url
        self._announce_at = announce_at
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with httpx.stream("GET", self._url, timeout=WAIT_S) as response:
                for chunk in response.iter_raw():
                    self.received += chunk
                    if len(self.received) >= self._announce_at:
                        self.reached.set()
        except BaseException as error:
            self.error = error
        finally:
            self.reached.set()

    def join(self) -> None:
        self._thread.join(WAIT_S)
        assert not self._thread.is_alive(), "download did not finish"


# ------------------------------------------------------------------------------- status faults


def test_error_fault_fails_the_next_two_blob_gets_then_recovers(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    digest, _ = _layer(ollama_registry)
    fault = ollama_registry.faults.error(503, kinds="blob_get", times=2)

    statuses = [client.get(f"{TINY}/blobs/{digest}").status_code for _ in range(3)]

    assert statuses == [503, 503, 307]
    assert fault.hits == 2
    assert ollama_registry.stats.faults_applied == {"error": 2}


def test_error_fault_body_is_a_registry_error(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    ollama_registry.faults.error(500, kinds="manifest", times=1)

    response = client.get(f"{TINY}/manifests/latest")

    assert response.status_code == 500
    assert response.json()["errors"][0]["code"] == "UNKNOWN"


def test_error_fault_for_a_path_pattern_spares_other_paths(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    ollama_registry.faults.error(502, path=r"/tiny-embed/")

    assert client.get("/v2/library/tiny-embed/manifests/latest").status_code == 502
    assert client.get(f"{TINY}/manifests/latest").status_code == 200


def test_error_fault_without_times_stays_on_until_removed(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    fault = ollama_registry.faults.error(500, kinds="manifest")

    assert [client.get(f"{TINY}/manifests/latest").status_code for _ in range(3)] == [500] * 3
    ollama_registry.faults.remove(fault)
    assert client.get(f"{TINY}/manifests/latest").status_code == 200


def test_not_found_fault_hides_a_manifest_once(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    ollama_registry.faults.not_found(kinds="manifest", times=1)

    hidden = client.get(f"{TINY}/manifests/latest")

    assert hidden.status_code == 404
    assert hidden.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert client.get(f"{TINY}/manifests/latest").status_code == 200


def test_not_found_fault_for_one_digest_spares_other_blobs(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    model_digest, _ = _layer(ollama_registry)
    template_digest, _ = _layer(ollama_registry, "template")
    ollama_registry.faults.not_found(digest=model_digest)

    assert client.head(f"{TINY}/blobs/{model_digest}").status_code == 404
    assert client.head(f"{TINY}/blobs/{template_digest}").status_code == 200


def test_unauthorized_fault_challenges_with_a_realm_that_wants_a_signed_request(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    ollama_registry.faults.unauthorized(kinds="manifest", times=1)

    challenged = client.get(f"{TINY}/manifests/latest")

    assert challenged.status_code == 401
    challenge = challenged.headers["www-authenticate"]
    realm = f"{ollama_registry.url}/_emulator/token"
    assert challenge == (
        f'Bearer realm="{realm}",service="{ollama_registry.host}",scope="repository:library/tiny:pull"'
    )
    assert client.get(realm).status_code == 401, "an unsigned token request is refused"
    pem, _ = keypair.generate()
    url = token_url(parse_challenge(challenge))
    token = client.get(url, headers={"Authorization": _signature(pem, url)}).json()["token"]
    retried = client.get(f"{TINY}/manifests/latest", headers={"Authorization": f"Bearer {token}"})
    assert retried.status_code == 200


def _signature(pem: bytes, url: str) -> str:
    seed, blob = keypair.load_private_key(pem)
    signature = keypair.sign(seed, signed_data(url))
    return f"{base64.b64encode(blob).decode()}:{base64.b64encode(signature).decode()}"


def test_a_registry_requiring_auth_refuses_tokens_it_did_not_issue(client: httpx.Client) -> None:
    with RegistryEmulator(require_auth=True) as registry:
        url = f"{registry.url}/v2/library/tiny/manifests/latest"
        assert client.get(url).status_code == 401
        assert client.get(url, headers={"Authorization": "Bearer made-up"}).status_code == 401
        pem, _ = keypair.generate()
        challenge = parse_challenge(client.get(url).headers["www-authenticate"])
        token_request = token_url(challenge)
        token = client.get(token_request, headers={"Authorization": _signature(pem, token_request)}).json()
        assert client.get(url, headers={"Authorization": f"Bearer {token['token']}"}).status_code == 200
        assert registry.auth.issued == 1


def test_a_signature_over_another_url_is_refused(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    pem, _ = keypair.generate()
    realm = f"{ollama_registry.url}/_emulator/token"
    signed_for = token_url(parse_challenge(f'Bearer realm="{realm}",service="x",scope="y"'))
    forged = client.get(f"{realm}?scope=other", headers={"Authorization": _signature(pem, signed_for)})
    assert forged.status_code == 401
    assert forged.json()["errors"][0]["message"] == "unauthorized: invalid signature"


# --------------------------------------------------------------------------------- body faults


def test_corrupt_fault_serves_wrong_bytes_of_the_right_length(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    digest, size = _layer(ollama_registry)
    ollama_registry.faults.corrupt(digest=digest, times=1)

    corrupted = client.get(_cdn(ollama_registry, digest)).content
    healthy = client.get(_cdn(ollama_registry, digest)).content

    assert len(corrupted) == size
    assert _sha256(corrupted) != digest
    assert _sha256(healthy) == digest


def test_corrupt_fault_on_one_digest_leaves_others_intact(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    model_digest, _ = _layer(ollama_registry)
    template_digest, _ = _layer(ollama_registry, "template")
    ollama_registry.faults.corrupt(digest=model_digest)

    assert _sha256(client.get(_cdn(ollama_registry, template_digest)).content) == template_digest


def test_corrupt_fault_on_manifests_breaks_the_manifest(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    ollama_registry.faults.corrupt(kinds="manifest", times=1)

    response = client.get(f"{TINY}/manifests/latest")

    assert response.headers["docker-content-digest"] != _sha256(response.content)
    with pytest.raises((UnicodeDecodeError, json.JSONDecodeError)):  # which one depends on the byte
        json.loads(response.content)


def test_body_faults_are_not_spent_on_head_requests(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    digest, _ = _layer(ollama_registry)
    fault = ollama_registry.faults.corrupt(digest=digest, times=1)

    client.head(_cdn(ollama_registry, digest))

    assert fault.hits == 0
    assert _sha256(client.get(_cdn(ollama_registry, digest)).content) != digest


def test_truncate_fault_closes_the_connection_after_the_given_bytes(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    digest, size = _layer(ollama_registry)
    ollama_registry.faults.truncate(digest=digest, after_bytes=1000, times=1)

    received, error = _download_until_failure(client, _cdn(ollama_registry, digest))

    assert isinstance(error, httpx.RemoteProtocolError)
    assert len(received) == 1000
    assert len(client.get(_cdn(ollama_registry, digest)).content) == size


def test_truncate_fault_defaults_to_half_of_a_range(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    digest, _ = _layer(ollama_registry)
    ollama_registry.faults.truncate(digest=digest, times=1)

    received, error = _download_until_failure(
        client, _cdn(ollama_registry, digest), {"Range": "bytes=0-9999"}
    )

    assert isinstance(error, httpx.RemoteProtocolError)
    assert len(received) == 5000


def test_stall_fault_stops_sending_after_the_given_bytes(ollama_registry: RegistryEmulator) -> None:
    digest, _ = _layer(ollama_registry)
    ollama_registry.faults.stall(digest=digest, after_bytes=5000)

    with httpx.Client(timeout=httpx.Timeout(WAIT_S, read=0.5)) as impatient:
        received, error = _download_until_failure(impatient, _cdn(ollama_registry, digest))

    assert isinstance(error, httpx.ReadTimeout)
    assert len(received) == 5000


def test_released_stall_finishes_the_same_response(ollama_registry: RegistryEmulator) -> None:
    digest, size = _layer(ollama_registry)
    stall = ollama_registry.faults.stall(digest=digest, after_bytes=5000)
    download = _BackgroundDownload(_cdn(ollama_registry, digest), announce_at=5000)
    assert download.reached.wait(WAIT_S)

    stall.release()
    download.join()

    assert download.error is None
    assert len(download.received) == size
    assert _sha256(bytes(download.received)) == digest


def test_stall_with_seconds_resumes_by_itself(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    digest, _ = _layer(ollama_registry)
    ollama_registry.faults.stall(digest=digest, after_bytes=100, seconds=0.3, times=1)

    started = time.monotonic()
    body = client.get(_cdn(ollama_registry, digest)).content

    assert time.monotonic() - started >= 0.3
    assert _sha256(body) == digest


def test_stopping_the_emulator_releases_stalled_responses() -> None:
    registry = RegistryEmulator().start()
    digest, _ = _layer(registry)
    registry.faults.stall(digest=digest, after_bytes=100)
    download = _BackgroundDownload(_cdn(registry, digest), announce_at=100)
    assert download.reached.wait(WAIT_S)

    started = time.monotonic()
    registry.stop()
    download.join()

    assert time.monotonic() - started < 5


# -------------------------------------------------------------------------------- validation


def test_fault_rejects_unknown_kinds_and_body_faults_on_bodiless_kinds() -> None:
    with pytest.raises(ValueError, match="unknown request kinds"):
        Fault(FaultType.ERROR, frozenset({"blobs"}))
    with pytest.raises(ValueError, match="needs a kind with a body"):
        Fault(FaultType.CORRUPT, frozenset({"blob_head"}))
    with pytest.raises(ValueError, match="HTTP error status"):
        Fault(FaultType.ERROR, status=200)


# ---------------------------------------------------------------------------- control over HTTP


def test_faults_can_be_switched_on_over_http(client: httpx.Client, ollama_registry: RegistryEmulator) -> None:
    digest, _ = _layer(ollama_registry)

    created = client.post(
        "/_emulator/faults", json={"type": "error", "status": 503, "kinds": ["blob_get"], "times": 1}
    )

    assert created.status_code == 201
    assert client.get(f"{TINY}/blobs/{digest}").status_code == 503
    assert client.get(f"{TINY}/blobs/{digest}").status_code == 307
    [listed] = client.get("/_emulator/faults").json()["faults"]
    assert listed["id"] == created.json()["id"]
    assert listed["hits"] == 1
    assert listed["active"] is False


def test_body_fault_over_http_defaults_to_the_cdn(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    digest, _ = _layer(ollama_registry)

    client.post("/_emulator/faults", json={"type": "corrupt", "digest": digest, "times": 1})

    assert _sha256(client.get(_cdn(ollama_registry, digest)).content) != digest


def test_stall_can_be_released_over_http(client: httpx.Client, ollama_registry: RegistryEmulator) -> None:
    digest, size = _layer(ollama_registry)
    fault_id = client.post(
        "/_emulator/faults", json={"type": "stall", "after_bytes": 10, "digest": digest}
    ).json()["id"]
    download = _BackgroundDownload(_cdn(ollama_registry, digest), announce_at=10)
    assert download.reached.wait(WAIT_S)

    assert client.post(f"/_emulator/faults/{fault_id}/release").status_code == 200
    download.join()

    assert len(download.received) == size


def test_faults_can_be_removed_over_http(client: httpx.Client, ollama_registry: RegistryEmulator) -> None:
    first = client.post("/_emulator/faults", json={"type": "not_found", "kinds": "manifest"}).json()["id"]
    client.post("/_emulator/faults", json={"type": "error", "kinds": "blob_head"})

    assert client.delete(f"/_emulator/faults/{first}").status_code == 204
    assert client.get(f"{TINY}/manifests/latest").status_code == 200
    assert client.delete("/_emulator/faults").status_code == 204
    assert ollama_registry.faults.active == []
    assert client.delete("/_emulator/faults/nope").status_code == 404


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"type": "explode"}, "fault 'type' must be one of"),
        ({"type": "error", "colour": "red"}, "unknown fault fields"),
        ({"type": "error", "times": "two"}, "must be a number"),
        ({"type": "corrupt", "kinds": ["blob_get"]}, "needs a kind with a body"),
    ],
)
def test_bad_fault_over_http_is_400_naming_the_problem(
    client: httpx.Client, document: dict[str, Any], message: str
) -> None:
    response = client.post("/_emulator/faults", json=document)

    assert response.status_code == 400
    assert message in response.json()["error"]


def test_reset_over_http_clears_faults_and_counters(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    ollama_registry.faults.error(500)
    client.get(f"{TINY}/manifests/latest")

    assert client.post("/_emulator/reset").status_code == 204

    assert ollama_registry.faults.active == []
    assert ollama_registry.stats.total_requests == 0
