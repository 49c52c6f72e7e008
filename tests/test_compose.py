"""docker-compose.yml runs real commands of this project, and the Dockerfile builds them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from worker.cli import build_parser

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


def wirewatch_commands() -> list[tuple[str, list[str]]]:
    """(service, argv after `wirewatch`) for every service that runs wirewatch."""
    found = []
    for name, service in COMPOSE["services"].items():
        command = service.get("command")
        if command and command[0] == "wirewatch":
            found.append((name, command[1:]))
    return found


def test_compose_has_database_migration_and_worker() -> None:
    """Compose runs PostgreSQL, a one-shot migration, and the worker after both."""
    services = COMPOSE["services"]
    assert services["db"]["image"].startswith("postgres")
    assert services["migrate"]["command"] == ["wirewatch", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    worker_deps = services["worker"]["depends_on"]
    assert worker_deps["migrate"]["condition"] == "service_completed_successfully"
    assert services["worker"]["environment"]["WIREWATCH_DATABASE_URL"].startswith(
        "postgresql+psycopg://"
    )


@pytest.mark.parametrize(("service", "argv"), wirewatch_commands())
def test_compose_commands_are_real_cli_commands(service: str, argv: list[str]) -> None:
    """Each service's command parses as a wirewatch command with a handler."""
    args = build_parser().parse_args(argv)
    assert callable(getattr(args, "handler", None)), service


def test_compose_mounts_watchlists_and_seeds() -> None:
    """The worker sees the watchlists and seeds folders of the checkout."""
    volumes = COMPOSE["services"]["worker"]["volumes"]
    assert any(v.startswith("./watchlists:") for v in volumes)
    assert any(v.startswith("./seeds:") for v in volumes)


def test_dockerfile_installs_the_console_script() -> None:
    """The image installs the package, so `wirewatch` exists inside it."""
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install" in dockerfile
    for path in ("worker", "alembic", "pyproject.toml"):
        assert path in dockerfile
        assert (REPO / Path(path)).exists()


def test_worker_runs_two_replicas_with_a_readiness_check() -> None:
    """Compose runs two workers, each checked by a GET of its /readyz endpoint."""
    worker = COMPOSE["services"]["worker"]
    assert worker["deploy"]["replicas"] == 2
    port = worker["environment"]["WIREWATCH_HEALTH_PORT"]
    probe = " ".join(worker["healthcheck"]["test"])
    assert probe.startswith("CMD python -c")
    assert f"http://127.0.0.1:{port}/readyz" in probe


def test_healthcheck_endpoint_exists() -> None:
    """The path the healthcheck requests is one the health server answers (not 404)."""
    from worker.ops.health import HealthServer, Probe

    started = datetime.now(UTC)
    server = HealthServer(0, lambda: Probe(True, True, started, started), lambda: started,
                          timedelta(minutes=2), host="127.0.0.1")  # fmt: skip
    try:
        status, _, body = server.answer("/readyz")
        assert status == 200, body
        assert server.answer("/healthz")[0] == 200
    finally:
        server.httpd.server_close()


def test_worker_environment_reaches_the_settings() -> None:
    """Every WIREWATCH_ variable compose sets is a real setting or a webhook placeholder."""
    from worker.config import Settings

    names = {f"WIREWATCH_{name.upper()}" for name in Settings.model_fields}
    for key in COMPOSE["services"]["worker"]["environment"]:
        assert key in names or key in {"WIREWATCH_WEBHOOK_URL", "WIREWATCH_WEBHOOK_SECRET"}, key
