"""Fixtures for the web companion: one demo world per session, an aiohttp client on it.

The demo world (a migrated SQLite file, finished jobs with real files, of two servers) takes
a few seconds to write, so it is built once; tests that add rows use guild ids of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from web.app import WebDeps, create_app
from web.demo import Demo, build_demo

Client = TestClient[web.Request, web.Application]
SECRET = "test-secret-for-web-links-0123456789"


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("web-demo")
    demo = build_demo(directory=directory, secret=SECRET)
    demo.deps.database.dispose()
    return directory


@pytest.fixture
async def demo(demo_dir: Path) -> AsyncIterator[Demo]:
    """The session's demo world reopened (no seeding, no radio) for one test."""
    world = build_demo(directory=demo_dir, secret=SECRET, seed=False)
    yield world
    await world.close()


async def open_client(deps: WebDeps) -> Client:
    client: Client = TestClient(TestServer(create_app(deps), host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client(demo: Demo) -> AsyncIterator[Client]:
    c = await open_client(demo.deps)
    yield c
    await c.close()
