"""Turn a digest into the request bodies one destination format wants.

`render(digest, "slack")` returns one or more `Message` values, in order; a long digest
is split across messages rather than losing stories. The generic `json` format is never
split. Nothing here sends, signs or reads the clock.
"""

from __future__ import annotations

from collections.abc import Callable

from worker.digest.formats import apprise_format, discord, json_format, slack, teams
from worker.digest.message import Message, RenderOptions
from worker.models import Digest

Renderer = Callable[[Digest, RenderOptions], list[Message]]

_RENDERERS: dict[str, Renderer] = {
    "json": json_format.render,
    "slack": slack.render,
    "discord": discord.render,
    "teams": teams.render,
    "apprise": apprise_format.render,
}

FORMATS: tuple[str, ...] = tuple(_RENDERERS)


def render(digest: Digest, format: str, *, options: RenderOptions | None = None) -> list[Message]:
    """Render `digest` for the named format; an unknown format raises ValueError."""
    try:
        renderer = _RENDERERS[format]
    except KeyError:
        known = ", ".join(sorted(_RENDERERS))
        raise ValueError(f"unknown digest format {format!r} (known: {known})") from None
    return renderer(digest, options or RenderOptions())
