"""`watchlists test` (does it match, and why) and `watchlists backfill` (queue stored stories).

`test` exits 0 on a match, 1 on no match and 2 on an error. `--text`, `--file` and `--url`
test the query alone; `--story` tests a stored story as the pipeline would, feed included.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import timedelta
from html import unescape
from pathlib import Path

from worker.app import Worker, build_worker
from worker.commands import Subparsers, group, opened
from worker.config import Settings
from worker.errors import WirewatchError
from worker.fetch.client import build_client
from worker.fetch.http import FetchRequest, FetchResult, fetch_feed
from worker.fetch.sniff import looks_like_html
from worker.models import Document, Watchlist
from worker.normalize import html_to_text
from worker.parse import parse_feed
from worker.store import outbox, queries
from worker.store.db import upgrade
from worker.watchlists.docindex import DocIndex
from worker.watchlists.explain import explain
from worker.watchlists.matcher import Matcher, compile_watchlist, evaluate

MATCH, NO_MATCH, ERROR = 0, 1, 2
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def register_watchlists(commands: Subparsers) -> None:
    """Add `watchlists test` and `watchlists backfill`."""
    watchlists = group(commands, "watchlists", "watchlist commands")
    test = watchlists.add_parser(
        "test", help="say whether and why a watchlist matches; exit 0 match, 1 none, 2 error"
    )
    test.add_argument("name", metavar="NAME", help="the watchlist name")
    source = test.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="test this text")
    source.add_argument("--file", type=Path, help="test the text of this file")
    source.add_argument("--url", help="fetch a page or feed and test it (each feed entry)")
    source.add_argument("--story", type=int, help="test a stored story by id")
    test.set_defaults(handler=cmd_watchlists_test)

    backfill = watchlists.add_parser(
        "backfill", help="queue stored stories that match a watchlist for its next digest"
    )
    backfill.add_argument("name", metavar="NAME", help="the watchlist name")
    backfill.add_argument(
        "--since", type=duration, required=True, help="how far back: 30m, 12h, 7d or 2w"
    )
    backfill.set_defaults(handler=cmd_watchlists_backfill)


def duration(value: str) -> timedelta:
    """An argparse type: `<number><m|h|d|w>`, such as `7d`."""
    found = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", value)
    if not found:
        raise argparse.ArgumentTypeError(f"not a duration such as 30m, 12h, 7d or 2w: {value!r}")
    return timedelta(**{UNITS[found.group(2)]: int(found.group(1))})


def find_watchlist(worker: Worker, name: str) -> Watchlist | None:
    """The current watchlist called `name` (the registry is loaded first)."""
    result = worker.registry.refresh()
    for error in result.errors:
        print(f"warning: {error}", file=sys.stderr)
    return next((w for w in worker.registry.watchlists if w.name == name), None)


def cmd_watchlists_test(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch watchlists test NAME (--text | --file | --url | --story)`."""
    worker = build_worker(settings)
    try:
        watchlist = find_watchlist(worker, args.name)
        if watchlist is None:
            print(f"wirewatch: no valid watchlist named {args.name!r}", file=sys.stderr)
            return ERROR
        documents = _documents(worker, args)
        compiled = compile_watchlist(watchlist)
    except (WirewatchError, OSError, UnicodeDecodeError) as exc:
        print(f"wirewatch: {exc}", file=sys.stderr)
        return ERROR
    finally:
        worker.close()
    if not documents:
        print("wirewatch: nothing to test (no text, or a feed without entries)", file=sys.stderr)
        return ERROR
    matched = 0
    for number, (label, document) in enumerate(documents, start=1):
        if len(documents) > 1:
            print(f"--- entry {number}/{len(documents)}: {label}")
        print(explain(watchlist, document))
        matched += evaluate(compiled, DocIndex(document)).matched
    if len(documents) > 1:
        print(f"{matched} of {len(documents)} entries matched")
    return MATCH if matched else NO_MATCH


def _documents(worker: Worker, args: argparse.Namespace) -> list[tuple[str, Document]]:
    if args.text is not None:
        return [("text", Document(title="", summary=args.text))]
    if args.file is not None:
        return [(str(args.file), Document(title="", summary=args.file.read_text("utf-8")))]
    if args.url is not None:
        return _fetched_documents(worker, args.url)
    upgrade(worker.engine)
    with worker.sessions() as session:
        detail = queries.story_detail(session, args.story)
    if detail is None:
        raise WirewatchError(f"no story with id {args.story}")
    story = detail.story
    document = Document(story.title, story.summary, story.language, detail.feed.url)
    return [(story.title, document)]


def _fetched_documents(worker: Worker, url: str) -> list[tuple[str, Document]]:
    result = asyncio.run(_fetch(worker, url))
    if result.error is not None:
        raise result.error
    body = result.body or b""
    if looks_like_html(body):
        page = body.decode("utf-8", "replace")
        title = _TITLE.search(page)
        heading = html_to_text(unescape(title.group(1))) if title else ""
        return [(heading or url, Document(title=heading, summary=html_to_text(page)))]
    parsed = parse_feed(body, url=url, content_type=result.content_type)
    return [
        (entry.title, Document(entry.title, entry.summary, entry.language))
        for entry in parsed.entries
    ]


async def _fetch(worker: Worker, url: str) -> FetchResult:
    async with build_client(worker.fetch_config, resolver=worker.resolver) as client:
        return await fetch_feed(client, FetchRequest(url=url), worker.fetch_config.limits)


def cmd_watchlists_backfill(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch watchlists backfill NAME --since 7d`."""
    with opened(settings) as worker:
        watchlist = find_watchlist(worker, args.name)
        if watchlist is None:
            print(f"wirewatch: no valid watchlist named {args.name!r}", file=sys.stderr)
            return 1
        matcher = Matcher.compile((watchlist,))
        now = worker.clock()
        since = now - args.since
        queued = already = considered = 0
        with worker.sessions.begin() as session:
            done = queries.matched_story_ids(session, watchlist.name)
            duplicates = queries.duplicate_count_since(session, since)
            for story, feed in queries.backfill_candidates(session, since):
                considered += 1
                document = Document(story.title, story.summary, story.language, feed.url)
                for match in matcher.match(document):
                    if story.id in done:
                        already += 1
                        continue
                    outbox.record_match(session, story.id, match, outbox.QUEUED, now)
                    done.add(story.id)
                    queued += 1
    print(
        f"{watchlist.name}: {considered} stories since {since:%Y-%m-%d %H:%M}Z checked "
        f"({duplicates} duplicates skipped); {queued} queued for the next digest, "
        f"{already} already matched"
    )
    return 0
