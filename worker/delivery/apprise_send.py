"""Send one `apprise` message with the Apprise library (the optional `wirewatch[apprise]`).

Apprise answers only "sent" or "not sent", so the outbox, the retry schedule and the
attempt history stay the sender's: this module makes one attempt and says how it went.

Before Apprise sees a URL, its host passes the address policy: an IP literal or a
loopback name is checked for every scheme, and for the generic self-hosted schemes
(`json://`, `xml://`, `form://` and their TLS forms, whose host is where the request
goes) the host name is also resolved and every address checked. Other schemes name a
fixed public service and carry tokens where a host would be. Apprise's own log lines
are kept at error level, since its debug output can describe the target.
"""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from dataclasses import dataclass
from typing import Any

from worker.errors import FetchRefused
from worker.fetch.guard import AddressPolicy, GuardedBackend, Resolver, check_url

GENERIC_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms"})
NOT_INSTALLED = (
    "the apprise format needs the Apprise library: install wirewatch[apprise] (pip install apprise)"
)

logging.getLogger("apprise").setLevel(logging.ERROR)


@dataclass(frozen=True, slots=True)
class AppriseResult:
    """How one Apprise notification went; `error_kind` says whether trying again can help."""

    ok: bool
    error_kind: str | None = None
    error: str | None = None


def _load() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import apprise  # optional dependency, imported when first used
    except ImportError:
        return None
    return apprise


async def send_apprise(
    url: str,
    body: bytes,
    *,
    policy: AddressPolicy,
    timeout: float,
    resolver: Resolver | None = None,
) -> AppriseResult:
    """Notify `url` with the title and body of one rendered apprise message."""
    apprise = _load()
    if apprise is None:
        return AppriseResult(False, "unsupported_scheme", NOT_INSTALLED)
    try:
        message = json.loads(body)
        title, text = str(message.get("title", "")), str(message["body"])
    except (ValueError, KeyError, AttributeError):
        return AppriseResult(False, "invalid_url", "the apprise message is not title+body JSON")
    with warnings.catch_warnings():
        # Apprise loads its plugins on first use; some import modules Python deprecates.
        warnings.simplefilter("ignore", DeprecationWarning)
        plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return AppriseResult(False, "invalid_url", "Apprise does not know this URL's scheme")
    scheme = url.split("://", 1)[0].lower()
    refusal = await _refusal(plugin, scheme, policy, timeout, resolver)
    if refusal is not None:
        return AppriseResult(False, "refused", refusal)
    for name in ("socket_connect_timeout", "socket_read_timeout"):
        if hasattr(plugin, name):
            setattr(plugin, name, timeout)
    try:
        async with asyncio.timeout(timeout * 2 + 1):
            ok = await asyncio.to_thread(
                plugin.notify, body=text, title=title, body_format=apprise.NotifyFormat.TEXT
            )
    except TimeoutError:
        return AppriseResult(False, "timeout", f"Apprise gave no answer within {timeout:g} s")
    except Exception as exc:  # a plugin bug must be a failed attempt, not a crash
        return AppriseResult(False, "network", f"Apprise raised {type(exc).__name__}")
    if ok:
        return AppriseResult(True)
    return AppriseResult(False, "network", "Apprise reported that the notification failed")


async def _refusal(
    plugin: Any, scheme: str, policy: AddressPolicy, timeout: float, resolver: Resolver | None
) -> str | None:
    """Why the policy refuses the plugin's host, or None when it may be reached."""
    host = str(getattr(plugin, "host", "") or "")
    if not host:
        return None
    bracketed = f"[{host}]" if ":" in host else host
    try:
        check_url(f"http://{bracketed}/", policy)
        if scheme in GENERIC_SCHEMES:
            port = int(getattr(plugin, "port", None) or (443 if scheme.endswith("s") else 80))
            await GuardedBackend(policy, resolver=resolver).resolve(host, port, timeout)
    except FetchRefused as exc:
        return exc.message
    except Exception:  # resolution failed: Apprise will fail and the attempt is retried
        return None
    return None
