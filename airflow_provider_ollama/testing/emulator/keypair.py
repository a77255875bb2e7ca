"""An Ed25519 key pair in OpenSSH format, like the ``~/.ollama/id_ed25519`` that ``ollama serve`` creates.

Pure Python on purpose: a per-task server starts with a fresh ``HOME`` every time, and importing a
crypto library would cost a noticeable part of the one-second start-up budget. The key is only ever
written to disk (the emulator signs nothing), but it is a valid key that OpenSSH tools accept.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct

_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_BASE_Y = 4 * pow(5, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_KEY_TYPE = b"ssh-ed25519"


def _recover_x(y: int, sign: int) -> int:
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if x & 1 != sign:
        x = _P - x
    return x


_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T)
_BASE: _Point = (_recover_x(_BASE_Y, 0), _BASE_Y, 1, _recover_x(_BASE_Y, 0) * _BASE_Y % _P)


def _add(first: _Point, second: _Point) -> _Point:
    x1, y1, z1, t1 = first
    x2, y2, z2, t2 = second
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _multiply(scalar: int, point: _Point) -> _Point:
    result: _Point = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def public_key(seed: bytes) -> bytes:
    """The 32-byte Ed25519 public key of a 32-byte private seed (RFC 8032)."""
    digest = hashlib.sha512(seed).digest()
    scalar = int.from_bytes(digest[:32], "little")
    scalar &= (1 << 254) - 8
    scalar |= 1 << 254
    x, y, z, _ = _multiply(scalar, _BASE)
    inverse = pow(z, _P - 2, _P)
    x, y = x * inverse % _P, y * inverse % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def generate() -> tuple[bytes, bytes]:
    """A new key pair: ``(OpenSSH private key PEM, authorized_keys line)``."""
    seed = os.urandom(32)
    public = public_key(seed)
    public_blob = _string(_KEY_TYPE) + _string(public)
    check = os.urandom(4)
    private = check + check + _string(_KEY_TYPE) + _string(public) + _string(seed + public) + _string(b"")
    private += bytes(range(1, 1 + (-len(private) % 8)))
    body = (
        b"openssh-key-v1\0"
        + _string(b"none")
        + _string(b"none")
        + _string(b"")
        + struct.pack(">I", 1)
        + _string(public_blob)
        + _string(private)
    )
    encoded = base64.b64encode(body)
    lines = [encoded[i : i + 70] for i in range(0, len(encoded), 70)]
    pem = (
        b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
        + b"\n".join(lines)
        + b"\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    return pem, _KEY_TYPE + b" " + base64.b64encode(public_blob) + b"\n"
