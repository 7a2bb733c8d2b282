"""Fixtures: one RabbitMQ for the whole directory, and data endpoint processes started per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.dataendpoint.endpoint import Endpoint
from tests.support.rabbitmq import RabbitMQ, rabbitmq_fixture

rabbitmq = rabbitmq_fixture(scope="session")


@pytest.fixture
def endpoint_factory(rabbitmq: RabbitMQ, tmp_path: Path) -> Iterator[Callable[..., Endpoint]]:
    """Makes (not starts) endpoints on empty queues; kills whatever is still running afterwards."""
    rabbitmq.purge()
    made: list[Endpoint] = []

    def make(mode: str, **settings: str) -> Endpoint:
        endpoint = Endpoint(rabbitmq, tmp_path / f"endpoint{len(made)}", mode, **settings)
        made.append(endpoint)
        return endpoint

    yield make
    for endpoint in made:
        endpoint.kill()
    rabbitmq.purge()


@pytest.fixture
def plugin_env(rabbitmq: RabbitMQ, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Configures pywaggle exactly as the plugin runner configures a student's plugin."""

    def configure(upload_dir: Path, app_id: str = "") -> None:
        monkeypatch.setenv("WAGGLE_PLUGIN_HOST", rabbitmq.host)
        monkeypatch.setenv("WAGGLE_PLUGIN_PORT", str(rabbitmq.amqp_port))
        monkeypatch.setenv("WAGGLE_PLUGIN_USERNAME", "plugin")
        monkeypatch.setenv("WAGGLE_PLUGIN_PASSWORD", rabbitmq.credentials.plugin)
        monkeypatch.setenv("WAGGLE_PLUGIN_UPLOAD_PATH", str(upload_dir))
        monkeypatch.delenv("PYWAGGLE_LOG_DIR", raising=False)
        if app_id:
            monkeypatch.setenv("WAGGLE_APP_ID", app_id)
        else:
            monkeypatch.delenv("WAGGLE_APP_ID", raising=False)

    return configure
