"""An Ed25519 key pair in OpenSSH format, like the ``~/.ollama/id_ed25519`` that ``ollama serve`` creates.

Pure Python on purpose: a per-task server starts with a fresh ``HOME`` every time, and importing a
crypto library would cost a noticeable part of the one-second start-up budget. It is a valid key that
OpenSSH tools accept, and the emulator signs with it as Ollama does when a registry asks for a token
(the registry emulator verifies those signatures).
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


# --------------------------------------------------------------------------------------------------
# Signing: what Ollama's auth.Sign does with ~/.ollama/id_ed25519 when a registry wants a token.

_ORDER = 2**252 + 27742317777372353535851937790883648493


def _encode(point: _Point) -> bytes:
    x, y, z, _ = point
    inverse = pow(z, _P - 2, _P)
    x, y = x * inverse % _P, y * inverse % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decode(data: bytes) -> _Point | None:
    number = int.from_bytes(data, "little")
    y, sign = number & ((1 << 255) - 1), number >> 255
    if y >= _P:
        return None
    x = _recover_x(y, sign)
    if (x * x * -1 + y * y - 1 - _D * x * x * y * y) % _P:
        return None
    return (x, y, 1, x * y % _P)


def _scalar(seed: bytes) -> tuple[int, bytes]:
    digest = hashlib.sha512(seed).digest()
    scalar = int.from_bytes(digest[:32], "little")
    scalar &= (1 << 254) - 8
    scalar |= 1 << 254
    return scalar, digest[32:]


def sign(seed: bytes, message: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``message`` under the key with this 32-byte seed (RFC 8032)."""
    scalar, prefix = _scalar(seed)
    public = _encode(_multiply(scalar, _BASE))
    nonce = int.from_bytes(hashlib.sha512(prefix + message).digest(), "little") % _ORDER
    encoded_r = _encode(_multiply(nonce, _BASE))
    challenge = int.from_bytes(hashlib.sha512(encoded_r + public + message).digest(), "little") % _ORDER
    return encoded_r + ((nonce + challenge * scalar) % _ORDER).to_bytes(32, "little")


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature of ``message`` by ``public``."""
    if len(signature) != 64 or len(public) != 32:
        return False
    point_a, point_r = _decode(public), _decode(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if point_a is None or point_r is None or s >= _ORDER:
        return False
    challenge = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % _ORDER
    return _encode(_multiply(s, _BASE)) == _encode(_add(point_r, _multiply(challenge, point_a)))


def _read_string(data: bytes, offset: int) -> tuple[bytes, int]:
    (length,) = struct.unpack_from(">I", data, offset)
    start = offset + 4
    return data[start : start + length], start + length


class KeyFileError(ValueError):
    """A private key file that is not an unencrypted OpenSSH ed25519 key."""


def load_private_key(pem: bytes) -> tuple[bytes, bytes]:
    """``(seed, public key blob)`` of an unencrypted OpenSSH ed25519 private key file."""
    lines = [line for line in pem.splitlines() if line and not line.startswith(b"-----")]
    try:
        body = base64.b64decode(b"".join(lines))
    except ValueError as error:
        raise KeyFileError(f"ssh: no key found ({error})") from None
    magic = b"openssh-key-v1\0"
    if not body.startswith(magic):
        raise KeyFileError("ssh: no key found")
    offset = len(magic)
    cipher, offset = _read_string(body, offset)
    _, offset = _read_string(body, offset)  # kdf name
    _, offset = _read_string(body, offset)  # kdf options
    offset += 4  # number of keys
    public_blob, offset = _read_string(body, offset)
    private, _ = _read_string(body, offset)
    if cipher != b"none":
        raise KeyFileError("ssh: this private key is passphrase protected")
    position = 8  # two check integers
    key_type, position = _read_string(private, position)
    if key_type != _KEY_TYPE:
        raise KeyFileError(f"ssh: unhandled key type {key_type.decode(errors='replace')}")
    _, position = _read_string(private, position)  # public key
    secret, _ = _read_string(private, position)
    return secret[:32], public_blob


def public_key_of_blob(blob: bytes) -> bytes:
    """The 32-byte key inside an ``ssh-ed25519`` public key blob."""
    key_type, offset = _read_string(blob, 0)
    if key_type != _KEY_TYPE:
        raise KeyFileError(f"ssh: unhandled key type {key_type.decode(errors='replace')}")
    key, _ = _read_string(blob, offset)
    return key
