"""Session-wide fixtures: one local Ray (with Serve) for every fleet test, started once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """A local Ray on 2 CPUs (about 10 s to start); replicas ask for no CPU of their own.

    Replicas import the project and the tests' stand-ins in their own processes, so the
    project's root is put on their ``PYTHONPATH``.
    """
    ray = pytest.importorskip("ray", reason="the `ray` extra is not installed")
    from ray import serve

    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}},
    )
    serve.start(proxy_location="Disabled")
    yield
    serve.shutdown()  # type: ignore[no-untyped-call]
    ray.shutdown()
