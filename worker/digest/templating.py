"""Custom per-story text from Jinja2 templates, rendered in a sandbox.

If `RenderOptions.template_dir` holds `<format>_story.md.j2` (for `slack`, `discord` or
`teams`), its output replaces the built-in story text. Templates run in Jinja2's
`SandboxedEnvironment` with autoescape off: every value they see is already trimmed and
escaped for the platform, so a template cannot be used by a story to inject markup.
Undefined names are errors, reported as `ConfigError` naming the file.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from worker.errors import ConfigError

if TYPE_CHECKING:
    from worker.digest.layout import StoryFields

TEMPLATE_FORMATS = ("slack", "discord", "teams")
SETTING = "template_dir"


def template_name(format: str) -> str:
    """The file name a custom story template for `format` must have."""
    return f"{format}_story.md.j2"


@lru_cache(maxsize=16)
def _environment(template_dir: str) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(template_dir),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def story_template(template_dir: Path | None, format: str) -> jinja2.Template | None:
    """The custom story template for `format`, or None if there is none."""
    if template_dir is None or format not in TEMPLATE_FORMATS:
        return None
    path = Path(template_dir) / template_name(format)
    if not path.is_file():
        return None
    try:
        return _environment(str(Path(template_dir))).get_template(template_name(format))
    except jinja2.TemplateError as exc:
        raise ConfigError(SETTING, f"{path}: {exc}") from exc


def template_context(fields: StoryFields) -> dict[str, Any]:
    """The variables a story template sees."""
    return {
        "id": fields.id,
        "title": fields.title,
        "url": fields.url,
        "link": fields.link,
        "source": fields.source,
        "published": fields.published,
        "published_iso": fields.published_iso,
        "summary": fields.summary,
        "matched": list(fields.matched),
        "snippets": list(fields.snippets),
        "also_reported_by": [{"source": s, "url": u} for s, u in fields.also_reported_by],
        "also_reported_links": fields.also_reported_links,
        "more_sources": fields.more_sources,
    }


def render_story(template: jinja2.Template, fields: StoryFields) -> str:
    """The template's text for one story; a failing template is a `ConfigError`."""
    try:
        return template.render(template_context(fields)).strip()
    except jinja2.TemplateError as exc:
        where = template.filename or template.name or "story template"
        raise ConfigError(SETTING, f"{where}: {exc}") from exc


def check_templates(template_dir: Path) -> list[str]:
    """Load every story template in `template_dir`, raising `ConfigError` if one is broken.

    Returns the formats that have a custom template, for a start-up log line.
    """
    return [fmt for fmt in TEMPLATE_FORMATS if story_template(template_dir, fmt) is not None]
