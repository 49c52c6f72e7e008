"""Loading watchlist files and reloading them while the worker runs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from worker.models import Document
from worker.watchlists import WatchlistRegistry
from worker.watchlists.loader import load_watchlists

REPO = Path(__file__).resolve().parent.parent
SECRET = "whsec_c2VjcmV0LXNpZ25pbmcta2V5"
HOOK = "https://hooks.example.test/T000/secret-path"
ENV = {"WIREWATCH_WEBHOOK_URL": HOOK, "WIREWATCH_WEBHOOK_SECRET": SECRET}

VALID = """\
name: {name}
query: '"Nippon Steel"'
feeds: [https://example.com/rss]
schedule: "0 8 * * *"
timezone: Asia/Tokyo
webhooks:
  - url: ${{WIREWATCH_WEBHOOK_URL}}
    format: json
    secret: ${{WIREWATCH_WEBHOOK_SECRET}}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def only_error(directory: Path, env: dict[str, str] | None = None) -> tuple[str, str, str]:
    result = load_watchlists(directory, ENV if env is None else env)
    assert len(result.errors) == 1, result.errors
    error = result.errors[0]
    return Path(error.path).name, error.field, error.message


def test_valid_file_loads_with_its_fields(tmp_path: Path) -> None:
    """A valid file becomes a Watchlist with the webhook URL and secret read from env."""
    write(tmp_path, "a.yaml", VALID.format(name="nippon"))
    result = load_watchlists(tmp_path, ENV)
    assert result.errors == ()
    (watchlist,) = result.watchlists
    assert watchlist.name == "nippon"
    assert watchlist.feeds == ("https://example.com/rss",)
    assert watchlist.timezone == "Asia/Tokyo"
    assert watchlist.webhooks[0].url == HOOK
    assert watchlist.webhooks[0].secret == SECRET
    assert watchlist.path.endswith("a.yaml")


def test_shipped_watchlists_validate_without_any_environment() -> None:
    """The example watchlists in the repository load with no webhook configured."""
    result = load_watchlists(REPO / "watchlists", {})
    assert result.errors == ()
    names = {w.name for w in result.watchlists}
    assert {"nippon-steel", "us-steel", "tariffs"} <= names
    assert all(w.webhooks == () for w in result.watchlists)


def test_shipped_watchlists_take_the_webhook_from_the_environment() -> None:
    """With the variables set, every example watchlist has a signed JSON webhook."""
    result = load_watchlists(REPO / "watchlists", ENV)
    assert result.errors == ()
    for watchlist in result.watchlists:
        (hook,) = watchlist.webhooks
        assert (hook.url, hook.format, hook.secret) == (HOOK, "json", SECRET)


def test_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    """An invalid file is reported and skipped while the valid ones load."""
    write(tmp_path, "a.yaml", VALID.format(name="first"))
    write(tmp_path, "b.yaml", VALID.format(name="second").replace("Asia/Tokyo", "Mars/Base"))
    write(tmp_path, "c.yml", VALID.format(name="third"))
    result = load_watchlists(tmp_path, ENV)
    assert [w.name for w in result.watchlists] == ["first", "third"]
    assert [(Path(e.path).name, e.field) for e in result.errors] == [("b.yaml", "timezone")]


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("Asia/Tokyo", "Not/AZone", "timezone"),
        ('"0 8 * * *"', '"0 25 * * *"', "schedule"),
        ('"0 8 * * *"', '"every morning"', "schedule"),
        ("https://example.com/rss", "ftp://example.com/rss", "feeds.0"),
        ("format: json", "format: xml", "webhooks.0.format"),
        ("query: '\"Nippon Steel\"'", "query: 12", "query"),
        ("timezone: Asia/Tokyo", "timezone: Asia/Tokyo\ncolour: blue", "colour"),
        ("name: x", "name: 'has spaces'", "name"),
        ("    format: json", "    format: json\n    retries: 3", "webhooks.0.retries"),
        ("${WIREWATCH_WEBHOOK_SECRET}", "not-a-whsec", "webhooks.0.secret"),
        ("${WIREWATCH_WEBHOOK_URL}", "mailto:ops@example.com", "webhooks.0.url"),
    ],
    ids=[
        "unknown-timezone",
        "cron-out-of-range",
        "cron-not-cron",
        "feed-not-http",
        "unknown-format",
        "query-not-text",
        "unknown-key",
        "bad-name",
        "unknown-webhook-key",
        "secret-not-whsec",
        "webhook-not-http",
    ],
)
def test_invalid_field_is_named(tmp_path: Path, old: str, new: str, field: str) -> None:
    """Each kind of invalid value is reported with the file and the dotted field path."""
    text = VALID.format(name="x")
    assert old in text
    write(tmp_path, "bad.yaml", text.replace(old, new))
    assert only_error(tmp_path)[:2] == ("bad.yaml", field)


def test_unset_variable_is_named_and_the_url_never_shown(tmp_path: Path) -> None:
    """A plain ${VAR} that is unset is an error naming the variable, not any secret."""
    write(tmp_path, "a.yaml", VALID.format(name="x"))
    name, field, message = only_error(tmp_path, {"WIREWATCH_WEBHOOK_SECRET": SECRET})
    assert (name, field) == ("a.yaml", "webhooks.0.url")
    assert "WIREWATCH_WEBHOOK_URL" in message
    assert SECRET not in message


def test_error_messages_never_contain_the_webhook_url_or_secret(tmp_path: Path) -> None:
    """A webhook with a bad secret is reported without echoing the URL or the secret."""
    write(tmp_path, "a.yaml", VALID.format(name="x"))
    env = {"WIREWATCH_WEBHOOK_URL": HOOK, "WIREWATCH_WEBHOOK_SECRET": "whsec_not*base64!"}
    result = load_watchlists(tmp_path, env)
    (error,) = result.errors
    assert error.field == "webhooks.0.secret"
    assert HOOK not in str(error) and "not*base64" not in str(error)


def test_empty_url_is_an_error_unless_written_with_a_default(tmp_path: Path) -> None:
    """A URL that expands to empty is an error, but `${VAR:-}` means no webhook."""
    write(tmp_path, "a.yaml", VALID.format(name="x"))
    _name, field, _message = only_error(
        tmp_path, {"WIREWATCH_WEBHOOK_URL": "", "WIREWATCH_WEBHOOK_SECRET": ""}
    )
    assert field == "webhooks.0.url"
    relaxed = VALID.format(name="y").replace(
        "${WIREWATCH_WEBHOOK_URL}", "${WIREWATCH_WEBHOOK_URL:-}"
    )
    write(tmp_path, "a.yaml", relaxed.replace("${WIREWATCH_WEBHOOK_SECRET}", "${NOPE:-}"))
    result = load_watchlists(tmp_path, {})
    assert result.errors == ()
    assert result.watchlists[0].webhooks == ()


def test_default_value_and_empty_secret_mean_unsigned(tmp_path: Path) -> None:
    """`${VAR:-default}` falls back to the default, and an empty secret is unsigned."""
    text = VALID.format(name="x").replace("${WIREWATCH_WEBHOOK_URL}", "${HOOK:-https://a.test/h}")
    write(tmp_path, "a.yaml", text.replace("${WIREWATCH_WEBHOOK_SECRET}", "${S:-}"))
    result = load_watchlists(tmp_path, {})
    hook = result.watchlists[0].webhooks[0]
    assert (hook.url, hook.secret) == ("https://a.test/h", None)


def test_duplicate_name_is_reported_on_the_later_file(tmp_path: Path) -> None:
    """Two files with one name: the first loads, the second is an error on `name`."""
    write(tmp_path, "a.yaml", VALID.format(name="same"))
    write(tmp_path, "b.yaml", VALID.format(name="same"))
    result = load_watchlists(tmp_path, ENV)
    assert [Path(w.path).name for w in result.watchlists] == ["a.yaml"]
    assert [(Path(e.path).name, e.field) for e in result.errors] == [("b.yaml", "name")]
    assert "a.yaml" in result.errors[0].message


def test_query_error_shows_line_column_and_caret(tmp_path: Path) -> None:
    """A malformed query is reported on `query` with its line, column and a caret."""
    write(
        tmp_path,
        "q.yaml",
        VALID.format(name="x").replace("'\"Nippon Steel\"'", "'steel AND (tariff'"),
    )
    name, field, message = only_error(tmp_path)
    assert (name, field) == ("q.yaml", "query")
    assert "line 2, column 19" in message
    assert message.endswith("steel AND (tariff\n          ^")


def test_query_error_in_a_folded_block_points_at_the_right_line(tmp_path: Path) -> None:
    """A malformed query written over several lines is located on the line at fault."""
    text = VALID.format(name="x").replace(
        "query: '\"Nippon Steel\"'", "query: >-\n  (tariff* OR duties)\n  AND (steel OR\n"
    )
    write(tmp_path, "q.yaml", text)
    _name, field, message = only_error(tmp_path)
    assert field == "query"
    assert message.startswith("line 4, column 16: ")


def test_exclude_query_error_is_reported_on_exclude(tmp_path: Path) -> None:
    """A malformed exclude query is reported on the `exclude` field."""
    write(tmp_path, "q.yaml", VALID.format(name="x") + "exclude: 'sport OR'\n")
    assert only_error(tmp_path)[1] == "exclude"


def test_not_yaml_is_reported_without_quoting_the_file(tmp_path: Path) -> None:
    """A file that is not YAML is reported with its position, never its text."""
    write(tmp_path, "a.yaml", f"name: x\nwebhooks: [{{url: {HOOK}\n")
    name, field, message = only_error(tmp_path)
    assert (name, field) == ("a.yaml", "")
    assert "line" in message and HOOK not in message


def test_aliases_inline_and_from_files_are_loaded(tmp_path: Path) -> None:
    """Aliases come from shared alias files and inline, inline winning."""
    write(tmp_path, "aliases/co.yaml", 'us_steel: ["U.S. Steel"]\nnsc: ["Nippon Steel"]\n')
    text = VALID.format(name="x").replace("'\"Nippon Steel\"'", "'us_steel OR nsc'")
    text += "alias_files: [aliases/co.yaml]\naliases:\n  nsc: [NSC, Nippon Steel Corp]\n"
    write(tmp_path, "a.yaml", text)
    result = load_watchlists(tmp_path, ENV)
    assert result.errors == ()
    assert dict(result.watchlists[0].aliases) == {
        "nsc": ("NSC", "Nippon Steel Corp"),
        "us_steel": ("U.S. Steel",),
    }


def test_alias_file_outside_the_directory_is_refused(tmp_path: Path) -> None:
    """An alias file path that leaves the watchlist directory is an error on that entry."""
    write(tmp_path, "outside.yaml", "k: [x]\n")
    inner = tmp_path / "lists"
    write(inner, "a.yaml", VALID.format(name="x") + "alias_files: [../outside.yaml]\n")
    assert only_error(inner)[1] == "alias_files.0"


def test_extensions_are_loaded(tmp_path: Path) -> None:
    """exclude, min_terms, languages and previous secrets map to the Watchlist fields."""
    text = VALID.format(name="x") + "exclude: sport\nmin_terms: 2\nlanguages: [EN, ja]\n"
    text = text.replace("    format: json", f"    format: json\n    secrets_previous: [{SECRET}]")
    write(tmp_path, "a.yaml", text)
    (watchlist,) = load_watchlists(tmp_path, ENV).watchlists
    assert (watchlist.exclude, watchlist.min_terms, watchlist.languages) == (
        "sport",
        2,
        ("en", "ja"),
    )
    assert watchlist.webhooks[0].secrets_previous == (SECRET,)


def test_missing_directory_loads_nothing(tmp_path: Path) -> None:
    """A directory that does not exist yields no watchlists and no errors."""
    result = load_watchlists(tmp_path / "nope", ENV)
    assert (result.watchlists, result.errors) == ((), ())


# --- hot reload ------------------------------------------------------------------------

REGISTRY_TEMPLATE = """\
name: {name}
query: '{query}'
schedule: "0 8 * * *"
"""


def write_list(path: Path, name: str, query: str, *, bump: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(REGISTRY_TEMPLATE.format(name=name, query=query), encoding="utf-8")
    if bump:
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


@pytest.fixture
def logger() -> logging.Logger:
    return logging.getLogger("test.watchlists.registry")


def registry_matches(registry: WatchlistRegistry, title: str) -> list[str]:
    return [m.watchlist for m in registry.matcher.match(Document(title, ""))]


def test_first_refresh_loads_the_directory(tmp_path: Path, logger: logging.Logger) -> None:
    """The first refresh loads every watchlist and reports them as added."""
    write_list(tmp_path / "a.yaml", "a", "steel")
    registry = WatchlistRegistry(tmp_path, {}, logger)
    result = registry.refresh()
    assert result.changed and result.added == ("a",)
    assert [w.name for w in registry.watchlists] == ["a"]
    assert registry_matches(registry, "Steel prices") == ["a"]


def test_unchanged_files_do_not_recompile(tmp_path: Path, logger: logging.Logger) -> None:
    """A refresh with nothing changed keeps the same matcher object."""
    write_list(tmp_path / "a.yaml", "a", "steel")
    registry = WatchlistRegistry(tmp_path, {}, logger)
    registry.refresh()
    matcher = registry.matcher
    assert registry.refresh().changed is False
    assert registry.matcher is matcher


def test_touched_but_identical_file_is_not_a_change(tmp_path: Path, logger: logging.Logger) -> None:
    """A file rewritten with the same content (new mtime) does not count as a change."""
    write_list(tmp_path / "a.yaml", "a", "steel")
    registry = WatchlistRegistry(tmp_path, {}, logger)
    registry.refresh()
    matcher = registry.matcher
    write_list(tmp_path / "a.yaml", "a", "steel", bump=5)
    assert registry.refresh().changed is False
    assert registry.matcher is matcher


def test_edit_is_picked_up(tmp_path: Path, logger: logging.Logger) -> None:
    """An edited query takes effect on the next refresh."""
    write_list(tmp_path / "a.yaml", "a", "steel")
    registry = WatchlistRegistry(tmp_path, {}, logger)
    registry.refresh()
    write_list(tmp_path / "a.yaml", "a", "aluminum", bump=5)
    result = registry.refresh()
    assert result.updated == ("a",)
    assert registry_matches(registry, "Steel prices") == []
    assert registry_matches(registry, "Aluminum prices") == ["a"]


def test_invalid_edit_keeps_the_last_good_version(
    tmp_path: Path, logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    """A watchlist whose edit is invalid keeps matching with its last good version."""
    write_list(tmp_path / "a.yaml", "a", "steel")
    registry = WatchlistRegistry(tmp_path, {}, logger)
    registry.refresh()
    write_list(tmp_path / "a.yaml", "a", "steel AND (", bump=5)
    with caplog.at_level(logging.WARNING, logger=logger.name):
        result = registry.refresh()
    assert result.kept_stale == ("a",)
    assert [e.field for e in result.errors] == ["query"]
    assert registry_matches(registry, "Steel prices") == ["a"]
    assert "a.yaml: query" in caplog.text


def test_each_error_is_logged_once(
    tmp_path: Path, logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    """A standing error is logged on the refresh that finds it, not on every refresh."""
    write_list(tmp_path / "bad.yaml", "bad", "(")
    write_list(tmp_path / "a.yaml", "a", "steel")
    registry = WatchlistRegistry(tmp_path, {}, logger)
    with caplog.at_level(logging.WARNING, logger=logger.name):
        registry.refresh()
        write_list(tmp_path / "a.yaml", "a", "iron", bump=5)
        registry.refresh()
        registry.refresh()
    assert caplog.text.count("bad.yaml") == 1


def test_fixed_error_that_returns_is_logged_again(
    tmp_path: Path, logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    """An error that is fixed and then comes back is logged a second time."""
    write_list(tmp_path / "bad.yaml", "bad", "(")
    registry = WatchlistRegistry(tmp_path, {}, logger)
    with caplog.at_level(logging.WARNING, logger=logger.name):
        registry.refresh()
        write_list(tmp_path / "bad.yaml", "bad", "steel", bump=5)
        registry.refresh()
        write_list(tmp_path / "bad.yaml", "bad", "(", bump=10)
        registry.refresh()
    assert caplog.text.count("bad.yaml") == 2


def test_removed_file_drops_its_watchlist(tmp_path: Path, logger: logging.Logger) -> None:
    """A watchlist whose file was deleted is dropped."""
    write_list(tmp_path / "a.yaml", "a", "steel")
    write_list(tmp_path / "b.yaml", "b", "steel")
    registry = WatchlistRegistry(tmp_path, {}, logger)
    registry.refresh()
    (tmp_path / "b.yaml").unlink()
    result = registry.refresh()
    assert result.removed == ("b",)
    assert registry_matches(registry, "Steel") == ["a"]


def test_alias_file_change_reloads(tmp_path: Path, logger: logging.Logger) -> None:
    """Editing a shared alias file changes what the watchlists using it match."""
    aliases = tmp_path / "aliases" / "co.yaml"
    aliases.parent.mkdir()
    aliases.write_text('co: ["Nippon Steel"]\n', encoding="utf-8")
    (tmp_path / "a.yaml").write_text(
        REGISTRY_TEMPLATE.format(name="a", query="co") + "alias_files: [aliases/co.yaml]\n",
        encoding="utf-8",
    )
    registry = WatchlistRegistry(tmp_path, {}, logger)
    registry.refresh()
    assert registry_matches(registry, "Nippon Steel") == ["a"]
    aliases.write_text('co: ["US Steel"]\n', encoding="utf-8")
    stat = aliases.stat()
    os.utime(aliases, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert registry.refresh().updated == ("a",)
    assert registry_matches(registry, "Nippon Steel") == []
    assert registry_matches(registry, "US Steel") == ["a"]
