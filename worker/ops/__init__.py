"""Running wirewatch in production: health endpoints, metrics, the single-writer lock."""
