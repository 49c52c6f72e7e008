"""Canonical URLs: one spelling per article, so that the same link compares equal.

`canonical_url` removes what changes between two shares of the same article but never
what picks out the article:

* the scheme and the host are lowercased, a trailing dot on the host is dropped, and the
  default port (80 for http, 443 for https) is removed;
* the fragment is dropped (it never reaches the server);
* a trailing slash on the path is dropped, except for the root path `/`;
* percent-escapes of unreserved characters (letters, digits, ``-._~``) are decoded, and
  the remaining escapes are written in upper case;
* tracking parameters are removed: every ``utm_*`` parameter, ``fbclid``, ``gclid``,
  ``dclid``, ``msclkid``, ``mc_cid``, ``mc_eid``, ``igshid``, ``_hsenc``, ``_hsmi``,
  ``yclid``, ``mkt_tok`` and ``cmpid``;
* ``ref`` and ``ref_src`` are removed only where they are clearly tracking: ``ref_src``
  always (Twitter's share parameter, never content) and ``ref`` only when its value looks
  like a referrer tag (letters, digits, ``_``, ``-``, ``.`` and at most 40 characters, for
  example ``ref=rss`` or ``ref=twitter.com``); a ``ref`` that holds a path or a long
  identifier is kept, since some sites use it to select content;
* the remaining query parameters are sorted (stable: repeated keys keep their order).

The function is idempotent and never raises: input that cannot be parsed as an absolute
http(s) URL comes back stripped of surrounding whitespace (other schemes are only
stripped, with their fragment kept, since their structure is unknown).
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit

__all__ = ["TRACKING_PARAMS", "canonical_url"]

TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "_hsenc",
        "_hsmi",
        "yclid",
        "mkt_tok",
        "cmpid",
        "ref_src",
    }
)
"""Query parameters that only ever carry tracking information (besides ``utm_*``)."""

_REF_TAG = re.compile(r"[A-Za-z0-9_.\-]{1,40}")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _is_tracking(key: str, value: str) -> bool:
    """Tell whether one query parameter is tracking only."""
    lowered = key.lower()
    if lowered.startswith("utm_") or lowered in TRACKING_PARAMS:
        return True
    return lowered == "ref" and _REF_TAG.fullmatch(value) is not None


def _normalise_escapes(text: str) -> str:
    """Decode escapes of unreserved characters and upper-case the others."""

    def repl(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _ESCAPE.sub(repl, text)


def _netloc(parts: SplitResult, scheme: str) -> str:
    """Rebuild the authority with a lowercased host and no default port."""
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    port = parts.port
    userinfo = ""
    if parts.username is not None:
        userinfo = parts.username
        if parts.password is not None:
            userinfo += ":" + parts.password
        userinfo += "@"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        return f"{userinfo}{host}:{port}"
    return f"{userinfo}{host}"


def _query(raw: str) -> str:
    """Drop tracking parameters and sort the others by key."""
    if not raw:
        return ""
    pairs = parse_qsl(raw, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _is_tracking(k, v)]
    kept.sort(key=lambda pair: pair[0])
    return urlencode(kept, quote_via=quote, safe="-._~:@!$'()*,;/?")


def _path(raw: str) -> str:
    """Normalise escapes and drop a trailing slash, keeping the root `/`."""
    path = _normalise_escapes(raw) or "/"
    while len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path


def canonical_url(url: str) -> str:
    """Return the canonical spelling of `url`; never raises (see the module docstring)."""
    stripped = url.strip()
    try:
        parts = urlsplit(stripped)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return stripped
        netloc = _netloc(parts, scheme)
        query = _query(parts.query)
        result = f"{scheme}://{netloc}{_path(parts.path)}"
        if query:
            result += "?" + query
        # A second pass settles any spelling the first one produced (idempotence).
        return result if _settled(result) else stripped
    except (ValueError, UnicodeError):
        return stripped


def _settled(candidate: str) -> bool:
    """Tell whether the canonical form is stable under one more pass."""
    try:
        parts = urlsplit(candidate)
        again = f"{parts.scheme}://{_netloc(parts, parts.scheme)}{_path(parts.path)}"
        query = _query(parts.query)
        if query:
            again += "?" + query
    except (ValueError, UnicodeError):
        return False
    return again == candidate
