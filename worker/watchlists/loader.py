"""Load and validate watchlist files.

One YAML file per watchlist: every `*.yaml` / `*.yml` at the top of the directory (files
are read in name order). The subfolder `aliases/` holds shared alias files. Format::

    name: nippon-steel                  # optional: defaults to the file name without suffix
    query: '"Nippon Steel" OR us_steel'  # see docs/watchlists.md for the query language
    feeds: [https://example.com/rss]    # optional: only stories from these feeds match
    schedule: "0 8 * * *"               # 5-field cron for the digest, in `timezone`
    timezone: Asia/Tokyo                # IANA name; default UTC
    webhooks:
      - url: ${WIREWATCH_WEBHOOK_URL}   # json | slack | discord | teams | apprise
        format: json
        secret: ${WIREWATCH_WEBHOOK_SECRET:-}
        secrets_previous: [whsec_...]   # still accepted by receivers during a rotation

Extensions, all optional:

- `aliases: {us_steel: ["=U.S. Steel", "United States Steel"]}`: a query word equal to a
  key stands for an OR of its phrases; a phrase starting with `=` is case-sensitive.
- `alias_files: [aliases/companies.yaml]`: files (relative to the directory, inside it)
  mapping keys to lists of phrases; inline `aliases` win over file entries.
- `exclude: 'query'`: a story matching it is dropped even if `query` matches.
- `min_terms: 2`: at least this many distinct positive terms must be found.
- `languages: [en]`: only stories in these languages; a story without one still matches.

Environment: `${VAR}` in any string is replaced by `env[VAR]`; an unset `VAR` is an error
naming it. `${VAR:-default}` uses `default` when `VAR` is unset or empty. A webhook whose
`url` expands to empty is an error, unless written with `:-` (then it means "no webhook
configured" and the webhook is left out). An empty `secret` means unsigned.

Errors are `WatchlistError(path, field, message)` values with a dotted field such as
`webhooks.0.url`; an invalid file is skipped and the others load. Messages never contain
a webhook URL or secret. A duplicate `name` is reported on the later file.
"""

from __future__ import annotations

import base64
import binascii
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from worker.errors import QuerySyntaxError, WatchlistError
from worker.models import Watchlist, Webhook
from worker.watchlists.query import parse_query

_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-)([^}]*))?\}")
_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_ALIAS_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LANG_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8})*$")


@dataclass(frozen=True, slots=True)
class LoadResult:
    """The valid watchlists, and one error per problem found in the others."""

    watchlists: tuple[Watchlist, ...]
    errors: tuple[WatchlistError, ...]


class _WebhookModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    url: str
    format: Literal["json", "slack", "discord", "teams", "apprise"] = "json"
    secret: str | None = None
    secrets_previous: list[str] = Field(default_factory=list)


class _WatchlistModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(pattern=_NAME_RE, max_length=100)
    query: str = Field(min_length=1)
    feeds: list[str] = Field(default_factory=list)
    schedule: str
    timezone: str = "UTC"
    webhooks: list[_WebhookModel] = Field(default_factory=list)
    aliases: dict[str, list[str]] = Field(default_factory=dict)
    alias_files: list[str] = Field(default_factory=list)
    exclude: str | None = None
    min_terms: int = Field(default=1, ge=1, le=100)
    languages: list[str] = Field(default_factory=list)


class _Invalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def watchlist_files(directory: Path) -> list[Path]:
    """The watchlist files of `directory`, in name order."""
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.iterdir()
        if path.suffix in (".yaml", ".yml") and path.is_file() and not path.name.startswith(".")
    )


def _expand(value: str, env: Mapping[str, str], field: str) -> tuple[str, bool]:
    """Replace `${VAR}` and `${VAR:-default}`; also say whether a `:-` form was used."""
    used_default_form = False

    def replace(match: re.Match[str]) -> str:
        nonlocal used_default_form
        name, dash, default = match.group(1), match.group(2), match.group(3)
        if dash:
            used_default_form = True
            return env.get(name) or default
        if name not in env:
            raise _Invalid(field, f"environment variable {name} is not set")
        return env[name]

    return _VAR_RE.sub(replace, value), used_default_form


def _expand_tree(data: Any, env: Mapping[str, str], field: str, defaulted: set[str]) -> Any:
    if isinstance(data, str):
        value, used_default = _expand(data, env, field)
        if used_default:
            defaulted.add(field)
        return value
    if isinstance(data, list):
        return [
            _expand_tree(v, env, f"{field}.{i}".lstrip("."), defaulted) for i, v in enumerate(data)
        ]
    if isinstance(data, dict):
        return {
            k: _expand_tree(v, env, f"{field}.{k}".lstrip("."), defaulted) for k, v in data.items()
        }
    return data


def _query_error(path: Path, field: str, exc: QuerySyntaxError) -> _Invalid:
    line, column = _query_position(path, field, exc.query, exc.position)
    where = f"line {line}, column {column}: " if line else ""
    return _Invalid(field, f"{where}{exc.message}\n{exc.caret()}")


def _query_position(path: Path, key: str, query: str, position: int) -> tuple[int, int]:
    """1-based line and column in the file of offset `position` of the query (0, 0: unknown).

    Exact for plain and quoted one-line values and for block scalars (`|`, `>`), whose
    lines are joined by one character each.
    """
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text)
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return 0, 0
    if not isinstance(node, yaml.MappingNode):
        return 0, 0
    for key_node, value_node in node.value:
        if getattr(key_node, "value", None) != key or not isinstance(value_node, yaml.ScalarNode):
            continue
        mark = value_node.start_mark
        if value_node.style in ("|", ">"):
            return _block_position(text.splitlines(), mark.line + 1, position)
        before = query[:position]
        if "\n" in before:
            return mark.line + 1 + before.count("\n"), position - before.rfind("\n")
        quoted = value_node.style in ("'", '"')
        return mark.line + 1, mark.column + 1 + (1 if quoted else 0) + position
    return 0, 0


def _block_position(lines: list[str], first: int, position: int) -> tuple[int, int]:
    offset = 0
    for number in range(first, len(lines)):
        content = lines[number].strip()
        if not content:
            continue
        if position <= offset + len(content):
            indent = len(lines[number]) - len(lines[number].lstrip())
            return number + 1, indent + position - offset + 1
        offset += len(content) + 1
    return 0, 0


def _load_aliases(directory: Path, model: _WatchlistModel) -> dict[str, tuple[str, ...]]:
    aliases: dict[str, tuple[str, ...]] = {}
    root = directory.resolve()
    for number, name in enumerate(model.alias_files):
        field = f"alias_files.{number}"
        target = (directory / name).resolve()
        if not target.is_relative_to(root):
            raise _Invalid(field, "an alias file must be inside the watchlist directory")
        try:
            data = yaml.safe_load(target.read_text(encoding="utf-8"))
        except OSError:
            raise _Invalid(field, f"cannot read alias file {name}") from None
        except UnicodeDecodeError:
            raise _Invalid(field, f"alias file {name} is not UTF-8 text") from None
        except yaml.YAMLError as exc:
            raise _Invalid(field, f"alias file {name}: {_yaml_message(exc)}") from None
        if not isinstance(data, dict):
            raise _Invalid(field, f"alias file {name} must map keys to lists of phrases")
        for key, phrases in data.items():
            ok = isinstance(phrases, list) and all(isinstance(p, str) for p in phrases)
            if not ok or not phrases:
                raise _Invalid(field, f"alias file {name}: {key} must be a list of phrases")
            aliases[str(key)] = tuple(phrases)
    for key, phrases in model.aliases.items():
        if not phrases:
            raise _Invalid(f"aliases.{key}", "an alias needs at least one phrase")
        aliases[key] = tuple(phrases)
    for key in aliases:
        if not _ALIAS_KEY_RE.match(key):
            raise _Invalid(f"aliases.{key}", "an alias key is letters, digits and _")
    return aliases


def _check_url(field: str, url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Invalid(field, f"{what} must be an http(s) URL with a host")


def _check_secret(field: str, secret: str) -> None:
    if not secret.startswith("whsec_"):
        raise _Invalid(field, "a signing secret must start with whsec_")
    try:
        base64.b64decode(secret[len("whsec_") :], validate=True)
    except (binascii.Error, ValueError):
        raise _Invalid(field, "a signing secret must be whsec_ followed by base64") from None


def _webhooks(model: _WatchlistModel, defaulted: set[str]) -> tuple[Webhook, ...]:
    out = []
    for number, hook in enumerate(model.webhooks):
        field = f"webhooks.{number}"
        if not hook.url.strip():
            if f"{field}.url" in defaulted:
                continue
            raise _Invalid(f"{field}.url", "the webhook URL is empty")
        if hook.format != "apprise":
            _check_url(f"{field}.url", hook.url, "a webhook URL")
        secret = hook.secret or None
        if secret is not None:
            _check_secret(f"{field}.secret", secret)
        for index, old in enumerate(hook.secrets_previous):
            _check_secret(f"{field}.secrets_previous.{index}", old)
        previous = tuple(old for old in hook.secrets_previous if old)
        out.append(Webhook(hook.url, hook.format, secret, previous))
    return tuple(out)


def _build(path: Path, data: Any, env: Mapping[str, str]) -> Watchlist:
    if not isinstance(data, dict):
        raise _Invalid("", "a watchlist file must be a YAML mapping")
    data = dict(data)
    data.setdefault("name", path.stem)
    defaulted: set[str] = set()
    data = _expand_tree(data, env, "", defaulted)
    try:
        model = _WatchlistModel.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"])
        raise _Invalid(field, first["msg"]) from None
    try:
        zone = zoneinfo.ZoneInfo(model.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _Invalid("timezone", f"unknown time zone {model.timezone!r}") from None
    try:
        CronTrigger.from_crontab(model.schedule, timezone=zone)
    except ValueError as exc:
        raise _Invalid("schedule", f"invalid cron expression: {exc}") from None
    for number, feed in enumerate(model.feeds):
        _check_url(f"feeds.{number}", feed, f"feed {feed!r}")
    for number, lang in enumerate(model.languages):
        if not _LANG_RE.match(lang.lower()):
            raise _Invalid(f"languages.{number}", f"{lang!r} is not a language code")
    aliases = _load_aliases(path.parent, model)
    for field in ("query", "exclude"):
        text = getattr(model, field)
        if text is None:
            continue
        try:
            parse_query(text, aliases)
        except QuerySyntaxError as exc:
            raise _query_error(path, field, exc) from None
    return Watchlist(
        name=model.name,
        query=model.query,
        feeds=tuple(model.feeds),
        schedule=model.schedule,
        timezone=model.timezone,
        webhooks=_webhooks(model, defaulted),
        path=str(path),
        aliases=tuple(sorted(aliases.items())),
        exclude=model.exclude,
        min_terms=model.min_terms,
        languages=tuple(lang.lower() for lang in model.languages),
    )


def _yaml_message(exc: yaml.YAMLError) -> str:
    """Where and what, without quoting the file (it may hold a webhook URL)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "syntax error"
    if mark is None:
        return f"not valid YAML: {problem}"
    return f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def load_watchlist_file(path: Path, env: Mapping[str, str]) -> Watchlist:
    """Load one file; raise `WatchlistError` naming the file and the field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WatchlistError(str(path), "", f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise WatchlistError(str(path), "", "not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise WatchlistError(str(path), "", _yaml_message(exc)) from None
    try:
        return _build(path, data, env)
    except _Invalid as exc:
        raise WatchlistError(str(path), exc.field, exc.message) from None


def load_watchlists(directory: Path, env: Mapping[str, str]) -> LoadResult:
    """Load every watchlist file of `directory`; invalid files become errors, not exceptions."""
    loaded: list[Watchlist] = []
    errors: list[WatchlistError] = []
    names: dict[str, str] = {}
    for path in watchlist_files(directory):
        try:
            watchlist = load_watchlist_file(path, env)
        except WatchlistError as exc:
            errors.append(exc)
            continue
        if watchlist.name in names:
            message = (
                f"duplicate watchlist name {watchlist.name!r} (also in {names[watchlist.name]})"
            )
            errors.append(WatchlistError(str(path), "name", message))
            continue
        names[watchlist.name] = str(path)
        loaded.append(watchlist)
    return LoadResult(tuple(loaded), tuple(errors))
