"""Fetching feeds: one shared HTTP client, polite conditional requests, an address guard.

`client.build_client` makes the shared `httpx.AsyncClient`; `http.fetch_feed`,
`http.fetch_many` and `http.fetch_as_completed` fetch feeds and return every problem as
a value; `body` reads a body under a decoded-size cap; `politeness` decides when to poll
next; `guard` refuses addresses a feed must never reach; `sniff` looks at a body before
it is parsed. This package does not import its submodules, so that `worker.parse` (run
in a process pool) pulls in only `sniff`.
"""
