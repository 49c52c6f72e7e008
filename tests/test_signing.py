"""Standard Webhooks signing of the generic JSON payload."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks

from worker.delivery.signing import sign, signature_header, validate_secret, webhook_headers

VECTORS_PATH = Path("/work/shared/corpora/webhooks/standard-webhooks/test-vectors.json")
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_c2VjcmV0LXRoYXQtd2FzLXJvdGF0ZWQtb3V0"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
BODY = b'{"test": 2432232314}'
NOW = 1614265330

# The canonical vector shared by every Standard Webhooks library test suite, copied here so
# the tests do not depend on a path outside the repository; the file is checked when present.
CANONICAL = {
    "secret": SECRET,
    "msg_id": MSG_ID,
    "timestamp": 1614265330,
    "payload": '{"test": 2432232314}',
    "expected_signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}


def _now() -> int:
    """The current time: the reference verifier rejects timestamps far from its clock."""
    return int(time.time())


def _vectors() -> list[dict[str, Any]]:
    if VECTORS_PATH.exists():
        vectors: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text())["sign_vectors"]
        return vectors
    return [CANONICAL]


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: str(v.get("name", "canonical")))
def test_sign_matches_the_published_vectors(vector: dict[str, Any]) -> None:
    """Signing the published vector gives the published signature."""
    got = sign(vector["secret"], vector["msg_id"], vector["timestamp"], vector["payload"].encode())
    assert got == vector["expected_signature"]


def test_sign_matches_the_canonical_vector() -> None:
    """The canonical vector holds even without the shared corpus."""
    assert sign(SECRET, MSG_ID, NOW, BODY) == CANONICAL["expected_signature"]


def test_signed_headers_verify_with_the_reference_library() -> None:
    """A receiver using the standardwebhooks package accepts our headers."""
    body = b'{"type":"wirewatch.digest","id":"dig_1"}'
    headers = webhook_headers(MSG_ID, _now(), body, [SECRET])
    assert standardwebhooks.Webhook(SECRET).verify(body, headers) == {
        "type": "wirewatch.digest",
        "id": "dig_1",
    }


def test_rotation_header_verifies_with_either_secret() -> None:
    """During rotation, receivers holding the old or the new secret both accept the message."""
    now = _now()
    body = b'{"n":1}'
    headers = webhook_headers(MSG_ID, now, body, [SECRET, OLD_SECRET])
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, OLD_SECRET):
        assert standardwebhooks.Webhook(secret).verify(body, headers) == {"n": 1}


def test_tampered_body_is_rejected_by_the_reference_library() -> None:
    """A body changed after signing fails verification."""
    now = _now()
    headers = webhook_headers(MSG_ID, now, b'{"n":1}', [SECRET])
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(SECRET).verify(b'{"n":2}', headers)


def test_signature_header_lists_current_secret_first() -> None:
    """The header holds the current secret's signature first, then the previous ones."""
    header = signature_header([SECRET, OLD_SECRET], MSG_ID, NOW, BODY)
    first, second = header.split(" ")
    assert first == sign(SECRET, MSG_ID, NOW, BODY)
    assert second == sign(OLD_SECRET, MSG_ID, NOW, BODY)


def test_headers_without_secrets_have_no_signature() -> None:
    """A destination without a secret gets id, timestamp and content type but no signature."""
    headers = webhook_headers(MSG_ID, NOW, BODY, [])
    assert headers == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(NOW),
        "content-type": "application/json",
    }


@pytest.mark.parametrize(
    "unpadded",
    ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr"],
)
def test_unpadded_secrets_sign_like_padded_ones(unpadded: str) -> None:
    """A secret written without base64 padding signs the same as with it."""
    padded = unpadded + "=" * (-len(unpadded.removeprefix("whsec_")) % 4)
    validate_secret(unpadded)
    assert sign(unpadded, MSG_ID, NOW, BODY) == sign(padded, MSG_ID, NOW, BODY)


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("", "must start with 'whsec_'"),
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with 'whsec_'"),
        ("whsec_", "empty"),
        ("whsec_not base64!", "not valid base64"),
        ("whsec_abcde", "not valid base64"),
    ],
)
def test_invalid_secrets_are_refused_with_a_clear_message(secret: str, message: str) -> None:
    """A malformed secret raises ValueError saying what is wrong."""
    with pytest.raises(ValueError, match=message):
        validate_secret(secret)


def test_valid_secret_passes() -> None:
    """A well-formed secret is accepted."""
    validate_secret(SECRET)


def test_negative_timestamp_is_refused() -> None:
    """Signing with a negative timestamp is an error, as in the reference signers."""
    with pytest.raises(ValueError, match="timestamp"):
        sign(SECRET, MSG_ID, -161426533, BODY)


def _documented_verify() -> Any:
    """The raw HMAC recipe from docs/payloads.md, loaded as a function."""
    docs = (Path(__file__).parent.parent / "docs" / "payloads.md").read_text(encoding="utf-8")
    blocks = docs.split("```python\n")[1:]
    code = next(block.split("```", 1)[0] for block in blocks if "def verify(" in block)
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/payloads.md", "exec"), namespace)
    return namespace["verify"]


def test_documented_raw_recipe_verifies_our_signatures() -> None:
    """The raw HMAC recipe in the docs accepts our headers, for either rotated secret."""
    verify = _documented_verify()
    body = b'{"type":"wirewatch.digest"}'
    headers = webhook_headers(MSG_ID, _now(), body, [SECRET, OLD_SECRET])
    assert verify(SECRET, headers, body)
    assert verify(OLD_SECRET, headers, body)


def test_documented_raw_recipe_rejects_tampering_and_replays() -> None:
    """The documented recipe refuses a changed body and a stale timestamp."""
    verify = _documented_verify()
    body = b'{"n":1}'
    assert not verify(SECRET, webhook_headers(MSG_ID, _now(), body, [SECRET]), b'{"n":2}')
    assert not verify(SECRET, webhook_headers(MSG_ID, _now() - 3600, body, [SECRET]), body)
