"""Secrets at rest (model endpoint API keys): Fernet, keyed from ORCHESTRA_ENCRYPTION_KEY or SECRET_KEY."""

import base64
import hashlib
import os

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    secret = os.environ.get("ORCHESTRA_ENCRYPTION_KEY") or settings.SECRET_KEY
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode() if plaintext else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise RuntimeError(
            "A stored secret cannot be decrypted: was SECRET_KEY or ORCHESTRA_ENCRYPTION_KEY changed?"
        ) from exc
