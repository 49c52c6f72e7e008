"""Hot reload: keep the watchlists of a directory current while the worker runs.

`refresh()` looks at the files' mtime and size first and reads them only when one changed;
it then compares content hashes, so a touched but unchanged file costs nothing more. When
the content changed, every file is loaded again (alias files can be shared). A watchlist
whose edit made it invalid keeps its last good version; a watchlist whose file was removed
is dropped. Each distinct error is logged once, not on every refresh; an error that is
fixed and comes back is logged again. The matcher is compiled again only on a change.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from worker.errors import WatchlistError
from worker.models import Watchlist
from worker.watchlists.loader import load_watchlists, watchlist_files
from worker.watchlists.matcher import Matcher

_Stat = tuple[int, int]


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What one refresh changed (names), and the errors now standing."""

    changed: bool
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    kept_stale: tuple[str, ...] = ()
    errors: tuple[WatchlistError, ...] = ()


def _error_key(error: WatchlistError) -> str:
    return str(error)


class WatchlistRegistry:
    """The current watchlists of `directory` and their compiled matcher."""

    def __init__(self, directory: Path, env: Mapping[str, str], logger: logging.Logger) -> None:
        self.directory = directory
        self.env = dict(env)
        self.logger = logger
        self._stats: dict[Path, _Stat] | None = None
        self._hashes: dict[Path, str] = {}
        self._by_path: dict[str, Watchlist] = {}
        self._logged: set[str] = set()
        self._errors: tuple[WatchlistError, ...] = ()
        self._matcher = Matcher.compile(())

    @property
    def watchlists(self) -> tuple[Watchlist, ...]:
        """The current watchlists, in file order."""
        return self._matcher.watchlists

    @property
    def matcher(self) -> Matcher:
        """The matcher compiled from the current watchlists."""
        return self._matcher

    @property
    def errors(self) -> tuple[WatchlistError, ...]:
        """The errors of the last load."""
        return self._errors

    def _files(self) -> list[Path]:
        files = watchlist_files(self.directory)
        aliases = self.directory / "aliases"
        if aliases.is_dir():
            files.extend(sorted(p for p in aliases.rglob("*") if p.is_file()))
        return files

    def _scan(self) -> dict[Path, _Stat]:
        stats = {}
        for path in self._files():
            try:
                info = path.stat()
            except OSError:
                continue
            stats[path] = (info.st_mtime_ns, info.st_size)
        return stats

    def _hash_all(self, paths: list[Path]) -> dict[Path, str]:
        hashes = {}
        for path in paths:
            try:
                hashes[path] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                continue
        return hashes

    def refresh(self) -> RefreshResult:
        """Reload if any file changed; see the module docstring for what is kept."""
        stats = self._scan()
        first = self._stats is None
        if not first and stats == self._stats:
            return RefreshResult(changed=False, errors=self._errors)
        self._stats = stats
        hashes = self._hash_all(list(stats))
        if not first and hashes == self._hashes:
            return RefreshResult(changed=False, errors=self._errors)
        self._hashes = hashes
        result = load_watchlists(self.directory, self.env)
        self._log_errors(result.errors)
        self._errors = result.errors
        return self._apply(result.watchlists, result.errors, first=first)

    def _apply(
        self, loaded: tuple[Watchlist, ...], errors: tuple[WatchlistError, ...], *, first: bool
    ) -> RefreshResult:
        before = self._by_path
        now = {watchlist.path: watchlist for watchlist in loaded}
        names = {watchlist.name for watchlist in loaded}
        kept = []
        existing = {str(path) for path in self._hashes}
        for error in errors:
            old = before.get(error.path)
            if old is None or old.name in names or error.path not in existing:
                continue
            now[error.path] = old
            names.add(old.name)
            kept.append(old.name)
        ordered = dict(sorted(now.items()))
        old_names = {w.path: w.name for w in before.values()}
        added = tuple(w.name for p, w in ordered.items() if p not in before)
        updated = tuple(w.name for p, w in ordered.items() if p in before and before[p] != w)
        removed = tuple(name for p, name in old_names.items() if p not in ordered)
        changed = bool(added or updated or removed) or first
        if changed:
            self._matcher = Matcher.compile(tuple(ordered.values()))
        self._by_path = ordered
        return RefreshResult(
            changed=changed,
            added=added,
            updated=updated,
            removed=removed,
            kept_stale=tuple(kept),
            errors=errors,
        )

    def _log_errors(self, errors: tuple[WatchlistError, ...]) -> None:
        keys = {_error_key(error) for error in errors}
        for error in errors:
            key = _error_key(error)
            if key not in self._logged:
                self.logger.error("watchlist invalid: %s", error)
        self._logged = keys
