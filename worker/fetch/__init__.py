"""Fetching feeds: one shared HTTP client, polite conditional requests, an address guard.

`client.build_client` makes the shared `httpx.AsyncClient`; `http.fetch_feed` and
`http.fetch_many` fetch feeds and return every problem as a value; `politeness` decides
when to poll next; `guard` refuses addresses a feed must never reach; `sniff` looks at a
body before it is parsed.
"""
