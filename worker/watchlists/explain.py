"""Say in words whether a watchlist matches a document, and why."""

from __future__ import annotations

from worker.models import Document, Hit, Watchlist
from worker.watchlists.docindex import DocIndex
from worker.watchlists.matcher import compile_watchlist, evaluate


def _hit_lines(hits: tuple[Hit, ...]) -> list[str]:
    return [f"  - {hit.term} in {hit.field}: {hit.snippet}" for hit in hits]


def explain(watchlist: Watchlist, doc: Document) -> str:
    """A human-readable verdict: matched or not, the reason, and each term found."""
    compiled = compile_watchlist(watchlist)
    verdict = evaluate(compiled, DocIndex(doc), detail=True)
    status = "MATCHED" if verdict.matched else "NOT MATCHED"
    lines = [f"{watchlist.name}: {status} ({verdict.reason})", f"query: {watchlist.query}"]
    if watchlist.exclude:
        lines.append(f"exclude: {watchlist.exclude}")
    terms = [leaf.text for leaf, _fields in compiled.query.leaves]
    found = {hit.term for hit in verdict.hits}
    if verdict.hits:
        lines.append("terms found:")
        lines.extend(_hit_lines(verdict.hits))
    missing = [term for term in dict.fromkeys(terms) if term not in found]
    if missing:
        lines.append("terms not found: " + ", ".join(missing))
    if verdict.excluded_by:
        lines.append("excluded by:")
        lines.extend(_hit_lines(verdict.excluded_by))
    if watchlist.min_terms > 1:
        lines.append(f"distinct terms found: {len(found)} (min_terms {watchlist.min_terms})")
    return "\n".join(lines)
