"""De-duplication: canonical URLs, text fingerprints, near-duplicates and clusters."""
