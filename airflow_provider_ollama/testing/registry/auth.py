"""The registry emulator's token realm, checking requests the way a registry that trusts Ollama keys
does: each token request must be signed (``<public key>:<signature>`` over ``GET,<url>,<body hash>``)
by an ed25519 key, one of ``known_keys`` when that is set. With ``required`` every registry request
needs a token the realm issued; without it tokens are only needed after an ``unauthorized`` fault.
"""

from __future__ import annotations

import base64
import secrets
import threading
from dataclasses import dataclass, field

from airflow_provider_ollama.testing.emulator import keypair
from airflow_provider_ollama.testing.emulator.registry_auth import signed_data

REALM_PATH = "/_emulator/token"


@dataclass
class RegistryAuth:
    """Whether tokens are required, which keys may get one, and the tokens handed out."""

    required: bool = False
    #: ``ssh-ed25519 <base64>`` public keys allowed to sign (None: any key with a valid signature).
    known_keys: frozenset[str] | None = None
    _tokens: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: How many tokens the realm handed out (a test proves the signed exchange happened).
    issued: int = 0

    def check_signature(self, url: str, authorization: str) -> str | None:
        """Why the signed token request is refused, or None when it is good."""
        public_text, separator, signature_text = authorization.partition(":")
        if not separator:
            return "unauthorized: a signed request is required"
        try:
            blob = base64.b64decode(public_text, validate=True)
            signature = base64.b64decode(signature_text, validate=True)
            public = keypair.public_key_of_blob(blob)
        except (ValueError, keypair.KeyFileError):
            return "unauthorized: malformed signature"
        if self.known_keys is not None and f"ssh-ed25519 {public_text}" not in self.known_keys:
            return f'unauthorized: unknown ollama key "ssh-ed25519 {public_text}"'
        if not keypair.verify(public, signed_data(url), signature):
            return "unauthorized: invalid signature"
        return None

    def issue(self) -> str:
        token = secrets.token_hex(16)
        with self._lock:
            self._tokens.add(token)
            self.issued += 1
        return token

    def accepts(self, authorization: str) -> bool:
        """Whether a registry request may pass: tokens not required, or a token the realm issued."""
        if not self.required:
            return True
        token = authorization.removeprefix("Bearer ")
        with self._lock:
            return authorization.startswith("Bearer ") and token in self._tokens
