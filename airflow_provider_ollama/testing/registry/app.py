"""The registry emulator's HTTP routes: Ollama's pull and push protocol over a catalogue.

Pull: manifests, blob HEAD, and blob GET answered with ``307`` + ``Location`` to a "CDN" path on the
same server that serves byte ranges, as registry.ollama.ai redirects to presigned storage URLs.
Push: upload sessions (POST, PATCH parts, PUT with the digest) and manifest PUT.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airflow_provider_ollama.store import (
    MANIFEST_MEDIA_TYPE,
    InvalidManifestError,
    Manifest,
    is_valid_digest,
    normalize_digest,
)
from airflow_provider_ollama.testing.registry.auth import REALM_PATH
from airflow_provider_ollama.testing.registry.blobs import CHUNK_SIZE
from airflow_provider_ollama.testing.registry.control import control_routes
from airflow_provider_ollama.testing.registry.faults import Fault, FaultType
from airflow_provider_ollama.testing.registry.responses import StreamedBody
from airflow_provider_ollama.testing.registry.state import RegistryState
from airflow_provider_ollama.testing.registry.uploads import UploadError

CDN_PREFIX = "/_cdn/blobs/"
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_NOT_FOUND_CODES = {
    "manifest": "MANIFEST_UNKNOWN",
    "manifest_put": "MANIFEST_UNKNOWN",
    "upload": "BLOB_UPLOAD_UNKNOWN",
}


class RangeNotSatisfiable(Exception):
    """A ``Range`` header that selects no byte of the blob."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` inclusive for a single ``bytes=`` range; ``None`` means the whole blob.

    Multi-range and malformed headers are ignored (the whole blob is sent), as HTTP allows.
    """
    if not header:
        return None
    match = _RANGE_RE.match(header.strip())
    if match is None or match.group(0) == "bytes=-":
        return None
    first_text, last_text = match.groups()
    if not first_text:  # suffix range: the last N bytes
        length = int(last_text)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - length), size - 1
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or (last_text and int(last_text) < first):
        raise RangeNotSatisfiable
    return first, last


def registry_error(
    status: int, code: str, message: str, detail: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An error in the Docker registry format: ``{"errors": [{"code", "message", "detail"}]}``."""
    body = {"errors": [{"code": code, "message": message, "detail": detail if detail is not None else {}}]}
    return JSONResponse(body, status_code=status, headers=headers)


def _repository(request: Request) -> str | None:
    """``namespace/model`` from the path; a bare ``model`` means ``library/model``."""
    parts = str(request.path_params["repository"]).split("/")
    if len(parts) == 1:
        parts = ["library", *parts]
    if len(parts) != 2 or not all(parts):
        return None
    return "/".join(parts)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


# Ollama's downloader follows a blob redirect only while the hostname stays the same, and needs the
# Location of the first response that leaves it (production sends it to a storage host). The CDN
# URL therefore names the same socket by another loopback name.
_OTHER_LOOPBACK_NAME = {"127.0.0.1": "localhost", "localhost": "127.0.0.1", "::1": "localhost"}


def _cdn_url(request: Request, digest: str) -> str:
    hostname = request.url.hostname or "127.0.0.1"
    other = _OTHER_LOOPBACK_NAME.get(hostname, hostname)
    netloc = f"[{other}]" if ":" in other else other
    if request.url.port is not None:
        netloc += f":{request.url.port}"
    return f"{request.url.scheme}://{netloc}{CDN_PREFIX}{digest}"


def _challenge(request: Request, repository: str | None) -> JSONResponse:
    """401 with a Bearer challenge naming the realm on this host, as registry.ollama.ai answers."""
    action = "push" if request.method in ("POST", "PATCH", "PUT") else "pull"
    scope = f"repository:{repository or 'library/unknown'}:{action}"
    challenge = (
        f'Bearer realm="{_base_url(request)}{REALM_PATH}",service="{request.url.netloc}",scope="{scope}"'
    )
    return registry_error(
        401, "UNAUTHORIZED", "authentication required", headers={"WWW-Authenticate": challenge}
    )


def _upload_accepted(request: Request, repository: str, upload_id: str, received: str) -> Response:
    """202 for an open upload session: where to send the next part, and the byte range received."""
    location = f"{_base_url(request)}/v2/{repository}/blobs/uploads/{upload_id}"
    headers = {
        "location": location,
        "docker-upload-location": location,
        "docker-upload-uuid": upload_id,
        "range": received,
    }
    return Response(status_code=202, headers=headers)


class _Routes:
    """Route handlers bound to one emulator's state."""

    def __init__(self, state: RegistryState) -> None:
        self.state = state

    # ---------------------------------------------------------------------------------- helpers

    def _fault(self, kind: str, request: Request, digest: str | None = None) -> Fault | None:
        """Count the request and pick the fault that applies to it, if any; a registry that requires
        tokens answers a request without one with its challenge first (as an unauthorized fault)."""
        self.state.stats.count_request(kind, digest)
        if kind != "cdn_get" and not self.state.auth.accepts(request.headers.get("authorization", "")):
            return Fault(FaultType.UNAUTHORIZED, frozenset({kind}), times=1)
        has_body = kind in ("manifest", "cdn_get") and request.method == "GET"
        fault = self.state.faults.take(kind, request.url.path, digest, has_body=has_body)
        if fault is not None:
            self.state.stats.count_fault(fault.type.value)
        return fault

    @staticmethod
    def _fault_answer(
        fault: Fault | None, request: Request, kind: str, repository: str | None
    ) -> Response | None:
        """The response a status fault gives instead of the registry's; ``None`` for no such fault."""
        if fault is None or fault.type.damages_body:
            return None
        if fault.type is FaultType.NOT_FOUND:
            code = _NOT_FOUND_CODES.get(kind, "BLOB_UNKNOWN")
            return registry_error(404, code, f"{code.lower().replace('_', ' ')} (injected fault {fault.id})")
        if fault.type is FaultType.UNAUTHORIZED:
            return _challenge(request, repository)
        code = "UNAVAILABLE" if fault.status == 503 else "UNKNOWN"
        return registry_error(fault.status, code, f"injected fault {fault.id}: HTTP {fault.status}")

    def _admit(
        self, kind: str, request: Request, digest: str | None = None
    ) -> tuple[str, Fault | None] | Response:
        """Count a repository request and either answer it (a status fault, a bad repository name)
        or return the repository and the body fault, if any, that the handler goes on with."""
        repository = _repository(request)
        fault = self._fault(kind, request, digest)
        if (answer := self._fault_answer(fault, request, kind, repository)) is not None:
            return answer
        if repository is None:
            return registry_error(404, "NAME_UNKNOWN", "repository name not known to registry")
        return repository, fault

    @staticmethod
    def _bad_digest(digest: str) -> JSONResponse:
        return registry_error(400, "DIGEST_INVALID", f"invalid digest {digest!r}")

    # ------------------------------------------------------------------------------------- pull

    async def ping(self, request: Request) -> Response:
        return JSONResponse({})

    async def manifest(self, request: Request) -> Response | StreamedBody:
        admitted = self._admit("manifest", request)
        if isinstance(admitted, Response):
            return admitted
        repository, fault = admitted
        tag = str(request.path_params["reference"])
        manifest = self.state.catalogue.manifest(repository, tag)
        if manifest is None:
            return registry_error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"Tag": tag})
        headers = {"content-type": MANIFEST_MEDIA_TYPE, "docker-content-digest": manifest.digest}
        return StreamedBody(
            status=200,
            headers=headers,
            chunks=[manifest.raw],
            length=len(manifest.raw),
            fault=fault,
            on_sent=lambda size: self.state.stats.count_sent("manifest", size),
        )

    async def blob(self, request: Request) -> Response:
        """HEAD answers the size; GET redirects to the CDN path, as Ollama's client requires."""
        raw_digest = str(request.path_params["digest"])
        if not is_valid_digest(raw_digest):
            return self._bad_digest(raw_digest)
        digest = normalize_digest(raw_digest)
        kind = "blob_head" if request.method == "HEAD" else "blob_get"
        admitted = self._admit(kind, request, digest)
        if isinstance(admitted, Response):
            return admitted
        blob = self.state.catalogue.blob(digest)
        if blob is None:
            return registry_error(404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
        if request.method == "HEAD":
            headers = {
                "content-length": str(blob.size),
                "content-type": "application/octet-stream",
                "docker-content-digest": digest,
                "accept-ranges": "bytes",
            }
            return Response(status_code=200, headers=headers)
        return Response(
            status_code=307, headers={"location": _cdn_url(request, digest), "docker-content-digest": digest}
        )

    async def cdn(self, request: Request) -> Response | StreamedBody:
        """Blob bytes with ``Range`` support: 206 for a range, 200 for the whole blob."""
        raw_digest = str(request.path_params["digest"])
        if not is_valid_digest(raw_digest):
            return self._bad_digest(raw_digest)
        digest = normalize_digest(raw_digest)
        fault = self._fault("cdn_get", request, digest)
        if (answer := self._fault_answer(fault, request, "cdn_get", None)) is not None:
            return answer
        blob = self.state.catalogue.blob(digest)
        if blob is None:
            return registry_error(404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
        headers = {
            "content-type": "application/octet-stream",
            "accept-ranges": "bytes",
            "etag": f'"{digest}"',
        }
        try:
            selected = parse_range(request.headers.get("range"), blob.size)
        except RangeNotSatisfiable:
            return Response(status_code=416, headers={"content-range": f"bytes */{blob.size}"})
        status, first, last = 200, 0, blob.size - 1
        if selected is None:
            # A client that followed the redirect on a host it treats as the registry itself still
            # finds the direct URL here, as on the registry Ollama's own tests run against.
            headers["location"] = str(request.url)
        else:
            status, (first, last) = 206, selected
            headers["content-range"] = f"bytes {first}-{last}/{blob.size}"
        return StreamedBody(
            status=status,
            headers=headers,
            chunks=blob.iter_bytes(first, last + 1, CHUNK_SIZE),
            length=last + 1 - first,
            fault=fault,
            on_sent=lambda size: self.state.stats.count_sent("cdn_get", size, digest),
        )

    # ------------------------------------------------------------------------------------- push

    async def start_upload(self, request: Request) -> Response:
        admitted = self._admit("upload", request)
        if isinstance(admitted, Response):
            return admitted
        repository, _ = admitted
        base = _base_url(request)
        mount = request.query_params.get("mount")
        if mount and is_valid_digest(mount) and self.state.catalogue.blob(mount) is not None:
            digest = normalize_digest(mount)
            location = f"{base}/v2/{repository}/blobs/{digest}"
            return Response(status_code=201, headers={"location": location, "docker-content-digest": digest})
        session = self.state.uploads.start()
        return _upload_accepted(request, repository, session.id, "0-0")

    async def upload_part(self, request: Request) -> Response:
        """PATCH appends a part; PUT appends an optional last part and commits with ``?digest=``."""
        admitted = self._admit("upload", request)
        if isinstance(admitted, Response):
            return admitted
        repository, _ = admitted
        upload_id = str(request.path_params["upload_id"])
        try:
            session = self.state.uploads.get(upload_id)
            if request.method == "PATCH":
                session.check_offset(request.headers.get("content-range"))
            async for data in request.stream():
                session.write(data)
                self.state.stats.count_received(len(data))
            if request.method == "PATCH":
                return _upload_accepted(request, repository, upload_id, f"0-{max(session.size - 1, 0)}")
            return self._commit(request, repository, upload_id)
        except UploadError as error:
            return registry_error(error.status, error.code, str(error))

    def _commit(self, request: Request, repository: str, upload_id: str) -> Response:
        expected = request.query_params.get("digest", "")
        session = self.state.uploads.get(upload_id)
        self.state.uploads.finish(upload_id)
        if not is_valid_digest(expected):
            session.discard()
            return self._bad_digest(expected)
        digest = normalize_digest(expected)
        if self.state.catalogue.blob(digest) is not None:
            session.discard()  # a concurrent push already stored it
        else:
            self.state.catalogue.add_blob(session.commit(digest, self.state.uploads.blobs_dir))
        location = f"{_base_url(request)}/v2/{repository}/blobs/{digest}"
        return Response(status_code=201, headers={"location": location, "docker-content-digest": digest})

    async def put_manifest(self, request: Request) -> Response:
        admitted = self._admit("manifest_put", request)
        if isinstance(admitted, Response):
            return admitted
        repository, _ = admitted
        try:
            manifest = Manifest.parse(await request.body())
        except (InvalidManifestError, ValueError) as error:
            return registry_error(400, "MANIFEST_INVALID", f"manifest invalid: {error}")
        tag = str(request.path_params["reference"])
        try:
            self.state.catalogue.put_manifest(repository, tag, manifest)
        except KeyError as missing:
            return registry_error(
                400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", {"digest": missing.args[0]}
            )
        location = f"{_base_url(request)}/v2/{repository}/manifests/{tag}"
        return Response(
            status_code=201, headers={"location": location, "docker-content-digest": manifest.digest}
        )


def build_app(state: RegistryState) -> Starlette:
    """The ASGI app of a registry emulator serving ``state``."""
    routes = _Routes(state)
    repo = "/v2/{repository:path}"
    return Starlette(
        routes=[
            Route("/v2/", routes.ping, methods=["GET"]),
            Route(f"{repo}/manifests/{{reference}}", routes.manifest, methods=["GET", "HEAD"]),
            Route(f"{repo}/manifests/{{reference}}", routes.put_manifest, methods=["PUT"]),
            Route(f"{repo}/blobs/uploads/", routes.start_upload, methods=["POST"]),
            Route(f"{repo}/blobs/uploads/{{upload_id}}", routes.upload_part, methods=["PATCH", "PUT"]),
            Route(f"{repo}/blobs/{{digest}}", routes.blob, methods=["GET", "HEAD"]),
            Route(CDN_PREFIX + "{digest}", routes.cdn, methods=["GET", "HEAD"]),
            *control_routes(state),
        ]
    )
