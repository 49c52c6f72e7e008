"""Custom Jinja2 story templates for the text formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import worker.digest
from worker.digest import RenderOptions, render
from worker.digest.samples import sample_digest
from worker.digest.templating import check_templates
from worker.errors import ConfigError

SHIPPED = Path(worker.digest.__file__).parent / "templates"


def _write(directory: Path, name: str, text: str) -> RenderOptions:
    (directory / name).write_text(text, encoding="utf-8")
    return RenderOptions(template_dir=directory)


@pytest.mark.parametrize("format", ["slack", "discord", "teams"])
def test_shipped_example_templates_match_the_built_in_text(format: str) -> None:
    """The example templates shipped for copying render exactly like the built-in layout."""
    digest = sample_digest(12, hostile=True, notices=("feed X failed",))
    custom = render(digest, format, options=RenderOptions(template_dir=SHIPPED))
    assert custom == render(digest, format)


def test_custom_slack_template_replaces_story_text(tmp_path: Path) -> None:
    """A slack_story.md.j2 in the template directory decides each story's text."""
    options = _write(tmp_path, "slack_story.md.j2", "{{ link }} ({{ source }}) #{{ id }}")
    [message] = render(sample_digest(1), "slack", options=options)
    section = json.loads(message.body)["blocks"][1]["text"]["text"]
    assert section == (
        "<https://news.example/0/nippon-steel-deal|Nippon Steel story number 0 on the U.S. deal>"
        " (Example Wire 0) #1"
    )


def test_template_values_arrive_escaped_for_the_platform(tmp_path: Path) -> None:
    """A template printing a hostile title still cannot ping the channel."""
    options = _write(tmp_path, "slack_story.md.j2", "{{ title }}")
    messages = render(sample_digest(0, hostile=True), "slack", options=options)
    text = b"".join(m.body for m in messages).decode()
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text


def test_discord_template_fills_the_embed_description(tmp_path: Path) -> None:
    """For Discord the template gives the embed description; the title stays the link."""
    options = _write(tmp_path, "discord_story.md.j2", "From {{ source }}")
    [message] = render(sample_digest(1), "discord", options=options)
    embed = json.loads(message.body)["embeds"][0]
    assert embed["description"] == "From Example Wire 0"
    assert embed["url"] == "https://news.example/0/nippon-steel-deal"


def test_directory_without_a_format_template_uses_the_built_in(tmp_path: Path) -> None:
    """A template directory lacking teams_story.md.j2 leaves Teams output unchanged."""
    options = _write(tmp_path, "slack_story.md.j2", "{{ title }}")
    digest = sample_digest(2)
    assert render(digest, "teams", options=options) == render(digest, "teams")


def test_overlong_template_output_is_trimmed_to_the_block_limit(tmp_path: Path) -> None:
    """A template that prints too much is cut to Slack's 3,000-character section limit."""
    options = _write(tmp_path, "slack_story.md.j2", "{% for i in range(2000) %}word {% endfor %}")
    [message] = render(sample_digest(1), "slack", options=options)
    section = json.loads(message.body)["blocks"][1]["text"]["text"]
    assert len(section) <= 3000
    assert section.endswith("word…")


def test_sandbox_blocks_attribute_escapes(tmp_path: Path) -> None:
    """A template reaching for Python internals is stopped and reported as a ConfigError."""
    options = _write(
        tmp_path, "slack_story.md.j2", "{{ title.__class__.__mro__[1].__subclasses__() }}"
    )
    with pytest.raises(ConfigError, match=r"slack_story\.md\.j2"):
        render(sample_digest(1), "slack", options=options)


def test_unknown_variable_is_a_clear_error(tmp_path: Path) -> None:
    """A misspelt variable raises ConfigError naming the template, not a silent blank."""
    options = _write(tmp_path, "teams_story.md.j2", "{{ titel }}")
    with pytest.raises(ConfigError, match="titel"):
        render(sample_digest(1), "teams", options=options)


def test_check_templates_reports_syntax_errors_at_start_up(tmp_path: Path) -> None:
    """Loading a template directory with a syntax error fails before any digest is sent."""
    _write(tmp_path, "discord_story.md.j2", "{% if %}")
    with pytest.raises(ConfigError, match=r"discord_story\.md\.j2"):
        check_templates(tmp_path)


def test_check_templates_lists_the_custom_formats(tmp_path: Path) -> None:
    """check_templates names the formats that have a custom template."""
    _write(tmp_path, "slack_story.md.j2", "{{ link }}")
    _write(tmp_path, "teams_story.md.j2", "{{ link }}")
    assert check_templates(tmp_path) == ["slack", "teams"]
