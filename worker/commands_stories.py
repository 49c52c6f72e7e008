"""`digest preview` and `stories show`: read what the worker stored, change nothing."""

from __future__ import annotations

import argparse
import json
import sys

from worker.commands import Subparsers, group, opened
from worker.commands_output import truncate, when
from worker.config import Settings
from worker.digest.render import FORMATS, render
from worker.digest_build import build_digest
from worker.store import outbox, queries

PREVIEW_ID = "dg_preview"


def register_stories(commands: Subparsers) -> None:
    """Add `digest preview` and `stories show`."""
    digest = group(commands, "digest", "digest commands")
    preview = digest.add_parser(
        "preview", help="print the pending digest of a watchlist as it would be sent"
    )
    preview.add_argument("name", metavar="NAME", help="the watchlist name")
    preview.add_argument(
        "--format", choices=FORMATS, default="json", help="the destination format (json)"
    )
    preview.set_defaults(handler=cmd_digest_preview)

    stories = group(commands, "stories", "story commands")
    show = stories.add_parser(
        "show", help="show a story, its de-duplication verdict, its cluster and its matches"
    )
    show.add_argument("id", metavar="ID", type=int, help="the story id")
    show.set_defaults(handler=cmd_stories_show)


def cmd_digest_preview(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch digest preview NAME [--format F]`: renders, sends and writes nothing."""
    with opened(settings) as worker:
        worker.registry.refresh()
        watchlist = next((w for w in worker.registry.watchlists if w.name == args.name), None)
        if watchlist is None:
            known = ", ".join(w.name for w in worker.registry.watchlists) or "none"
            print(f"wirewatch: no watchlist named {args.name!r} (known: {known})", file=sys.stderr)
            return 1
        with worker.sessions() as session:
            match_ids, items = outbox.queued_items(session, watchlist.name)
            session.rollback()
        now = worker.clock()
    if not match_ids:
        print(f"nothing queued for {watchlist.name}", file=sys.stderr)
    digest = build_digest(PREVIEW_ID, watchlist.name, watchlist.timezone, items, now)
    messages = render(digest, args.format)
    for message in messages:
        if len(messages) > 1:
            print(f"--- part {message.part}/{message.parts} ({message.content_type})")
        body = message.body.decode("utf-8")
        if "json" in message.content_type:
            body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
        print(body)
    print(
        f"{len(digest.stories)} stories from {len(match_ids)} queued matches, "
        f"{len(messages)} message(s); nothing was sent",
        file=sys.stderr,
    )
    return 0


def cmd_stories_show(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch stories show ID`."""
    with opened(settings) as worker, worker.sessions() as session:
        detail = queries.story_detail(session, args.id)
    if detail is None:
        print(f"wirewatch: no story with id {args.id}", file=sys.stderr)
        return 1
    story, feed = detail.story, detail.feed
    print(f"story {story.id}: {story.title}")
    print(f"  feed:       {feed.title or '-'} <{feed.url}>")
    print(f"  url:        {story.url or '-'}")
    print(f"  published:  {when(story.published_at)}")
    print(f"  first seen: {when(story.first_seen_at)}")
    print("de-duplication:")
    if story.dup_kind is None:
        print("  new (no duplicate or related document found)")
    else:
        print(f"  {story.dup_kind} (layer {story.dup_layer or '-'})")
        other = detail.other
        if other is not None and other.kind == "seed":
            print(f"  of seed {other.path}: {other.title}")
        elif other is not None:
            print(f"  of story {other.id}: {other.title}")
        print(f"  containment {_score(story.dup_containment)}, jaccard {_score(story.dup_jaccard)}")
    cluster_id = story.cluster_id if story.cluster_id is not None else story.id
    print(f"cluster {cluster_id}:")
    if not detail.cluster:
        print("  no other stories")
    for member, member_feed in detail.cluster:
        print(f"  story {member.id} [{member.dup_kind or 'new'}] {member.title}"
              f" ({member_feed.title or member_feed.url})")  # fmt: skip
    print("matches:")
    if not detail.matches:
        print("  none")
    for match in detail.matches:
        print(f"  {match.watchlist}: {match.status}, digest {match.digest_id or '-'}")
        print(f"    matched: {', '.join(match.matched) or '-'}")
        for hit in match.hits:
            snippet = truncate(hit.get("snippet"), 160)
            print(f"    - {hit.get('term')} in {hit.get('field')}: {snippet}")
    return 0


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
