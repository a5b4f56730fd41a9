"""Keys kept in the data folder, and encryption at rest for secrets the server must read back.

What is encrypted: TOTP secrets, settings declared ``secret`` (and, in the cache, the
successor tokens a refresh hands out during its grace window). Passwords, refresh tokens,
API keys and backup codes are not: they are stored as one-way digests and never read back.

Format: AES-256-GCM with a random 96-bit nonce per value, stored as text::

    v1:<key id>:<base64url(nonce || ciphertext || tag)>

``v1`` names the format, so it can change later without guessing. Each use (``purpose``)
has its own AES key, derived from the master key with HKDF-SHA256 and the purpose as label.
The caller's ``context`` (the user of a TOTP secret, the name of a setting...) is
authenticated as associated data, so a value copied onto another row does not decrypt. The
key id is a short fingerprint of the master key: with it, a value stored under another key
fails with an error that says so, instead of garbage or a vague "bad tag".

The master key is ``encryption.key``. When that is empty, a random key is generated once in
``<data_dir>/secrets/encryption_key`` (mode 0600, logged when created). It is deliberately
not derived from ``auth.jwt_secret``: rotating the signing secret must not make stored
secrets unreadable, and one leaked secret must not give away the other.
"""

from __future__ import annotations

import base64
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from loguru import logger

if TYPE_CHECKING:
    from ..config import Config

VERSION = "v1"
NONCE_BYTES = 12
KEY_BYTES = 32
KEY_ID_BYTES = 4
MIN_SECRET_LENGTH = 32
HKDF_SALT = b"revenge-encryption-at-rest"
ENCRYPTION_KEY_FILE = Path("secrets") / "encryption_key"


class DecryptionError(RuntimeError):
    """A stored value cannot be decrypted: another key, damaged text, or an unknown format."""


def load_or_create_key_file(data_dir: Path, relative: Path, *, setting: str, what: str) -> str:
    """The generated secret at ``data_dir / relative``, created (0600) when missing.

    Creation is atomic across processes: the secret is written to a private temporary file
    and hard-linked into place, so a second instance starting at the same moment either
    wins or reads the winner's complete file.

    :param setting: the configuration key that replaces the file, for the messages.
    :param what: what the secret is, for the log line announcing a new one.
    """
    path = Path(data_dir) / relative
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        candidate = secrets.token_urlsafe(64)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(candidate + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
                logger.info("generated {} in {}; set {} when running several hosts", what, path, setting)
            except FileExistsError:
                pass
        finally:
            temporary.unlink(missing_ok=True)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        logger.warning("{} was readable by others (mode {:o}); restricting it to its owner", path, mode)
        path.chmod(0o600)
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < MIN_SECRET_LENGTH:
        raise RuntimeError(f"{path} holds a secret shorter than {MIN_SECRET_LENGTH} characters; "
                           f"delete the file to generate a new one, or set {setting}")
    return secret


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SecretBox:
    """Encrypts and decrypts short texts under one master key; see the module docstring."""

    def __init__(self, master: str | bytes):
        material = master.encode("utf-8") if isinstance(master, str) else bytes(master)
        if len(material) < MIN_SECRET_LENGTH:
            raise ValueError(f"an encryption key needs at least {MIN_SECRET_LENGTH} characters")
        self._master = material
        self._ciphers: dict[str, AESGCM] = {}

    @classmethod
    def from_config(cls, config: Config) -> SecretBox:
        """The box of ``encryption.key``, or of the key generated in the data folder."""
        configured = config.encryption.key
        if configured:
            return cls(configured)
        what = ("an encryption key for stored secrets (back it up with the database: without it, "
                "TOTP secrets and secret settings cannot be read)")
        return cls(load_or_create_key_file(config.data_dir, ENCRYPTION_KEY_FILE, setting="encryption.key",
                                         what=what))

    def _derive(self, label: str, length: int = KEY_BYTES) -> bytes:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=HKDF_SALT, info=f"revenge:{label}".encode())
        return hkdf.derive(self._master)

    @cached_property
    def key_id(self) -> str:
        """A short fingerprint of the master key (not usable to recover it)."""
        return self._derive("key-id", KEY_ID_BYTES).hex()

    def _cipher(self, purpose: str) -> AESGCM:
        cipher = self._ciphers.get(purpose)
        if cipher is None:
            cipher = self._ciphers[purpose] = AESGCM(self._derive(f"{VERSION}:{purpose}"))
        return cipher

    def encrypt(self, purpose: str, plaintext: str, context: str = "") -> str:
        """The stored form of ``plaintext`` for ``purpose``, bound to ``context``."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._cipher(purpose).encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return f"{VERSION}:{self.key_id}:{_b64encode(nonce + sealed)}"

    def decrypt(self, purpose: str, stored: str, context: str = "") -> str:
        """The plaintext of a value :meth:`encrypt` made with the same purpose and context.

        :raises DecryptionError: for another key, another purpose or context, damaged text,
            or a format this version does not know; never returns garbage.
        """
        parts = stored.split(":", 2) if isinstance(stored, str) else []
        if len(parts) != 3 or parts[0] != VERSION or not all(parts):
            raise DecryptionError(f"a stored {purpose} value is not in a known encrypted format "
                                  f"(expected {VERSION}:...); was it written by a newer version?")
        key_id, body = parts[1], parts[2]
        if key_id != self.key_id:
            raise DecryptionError(
                f"a stored {purpose} value was encrypted with another key (key id {key_id}; this server's "
                f"is {self.key_id}). Set encryption.key, or restore <data_dir>/{ENCRYPTION_KEY_FILE}, to the "
                "key it was stored with.")
        try:
            raw = _b64decode(body)
            if len(raw) <= NONCE_BYTES:
                raise ValueError("too short")
            plain = self._cipher(purpose).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8"))
            return plain.decode("utf-8")
        except (InvalidTag, ValueError):  # binascii and UTF-8 errors are ValueErrors
            raise DecryptionError(f"a stored {purpose} value is damaged or belongs to another record; "
                                  "it cannot be decrypted") from None


def is_encrypted(stored: object) -> bool:
    """Whether ``stored`` looks like :meth:`SecretBox.encrypt` output (any version)."""
    if not isinstance(stored, str):
        return False
    version, sep, _ = stored.partition(":")
    return bool(sep) and len(version) >= 2 and version[0] == "v" and version[1:].isdigit()
