"""Digest rendering: `render(digest, format)` gives the messages to deliver."""

from worker.digest.message import Message, RenderOptions
from worker.digest.render import FORMATS, render

__all__ = ["FORMATS", "Message", "RenderOptions", "render"]
