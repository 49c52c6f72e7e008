"""Standard Webhooks signatures for the generic JSON payload.

The signed content is `msg_id.timestamp.body`; the key is the base64 secret after its
`whsec_` prefix; the signature is `v1,` + base64(HMAC-SHA256). While a secret is being
rotated, the header carries one signature per secret, space-delimited, current first, so
receivers holding either secret accept the message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
JSON_CONTENT_TYPE = "application/json"


def _decode(secret: str) -> bytes:
    """The key bytes of a secret, with or without its `whsec_` prefix; padding is optional."""
    raw = secret.removeprefix(SECRET_PREFIX)
    padded = raw + "=" * (-len(raw) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("webhook secret is not valid base64 after the 'whsec_' prefix") from exc


def validate_secret(secret: str) -> None:
    """Raise ValueError, saying what is wrong, unless `secret` is `whsec_` + non-empty base64."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("webhook secret must start with 'whsec_' followed by base64")
    raw = secret.removeprefix(SECRET_PREFIX)
    if not raw:
        raise ValueError("webhook secret is empty after the 'whsec_' prefix")
    if len(raw) % 4 == 1:
        raise ValueError("webhook secret is not valid base64 after the 'whsec_' prefix")
    if not _decode(secret):
        raise ValueError("webhook secret decodes to no bytes")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature of one message under one secret."""
    if timestamp < 0:
        raise ValueError("webhook timestamp must be a non-negative integer")
    key = _decode(secret)
    if not key:
        raise ValueError("webhook secret is empty")
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one signature per secret, space-delimited, in order."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets)


def webhook_headers(
    msg_id: str,
    timestamp: int,
    body: bytes,
    secrets: Sequence[str],
    *,
    content_type: str = JSON_CONTENT_TYPE,
) -> dict[str, str]:
    """The Standard Webhooks headers for one message; no signature if there is no secret."""
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "content-type": content_type,
    }
    if secrets:
        headers["webhook-signature"] = signature_header(secrets, msg_id, timestamp, body)
    return headers
