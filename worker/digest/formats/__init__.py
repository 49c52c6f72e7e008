"""One module per destination format; each exposes `render(digest, options) -> list[Message]`."""
