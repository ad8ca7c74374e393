"""Wiring for ``RIFFBOT_ENGINE=ray``: the replicas' engine factory, the deployment's shape and
the runner the bot holds, all from ``Settings``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from generation.engine import Engine
    from generation.fleet.deploy import FleetConfig
    from generation.fleet.runner import FleetRunner
    from riffbot.settings import Settings


EngineBuilder = Callable[["Settings"], "Engine[Any, Any]"]
"""``riffbot.wiring.build_engine``: today's engine from settings (passed in, not imported)."""


@dataclass(frozen=True)
class ReplicaEngine:
    """The engine factory Serve ships to every replica: today's engine, built from settings.

    It carries the settings without the Discord token, so no secret travels to the cluster.
    """

    settings: Settings
    build: EngineBuilder

    @classmethod
    def of(cls, settings: Settings, build: EngineBuilder) -> ReplicaEngine:
        return cls(settings.model_copy(update={"discord_token": None}), build)

    def __call__(self) -> Engine[Any, Any]:
        return self.build(self.settings)


def fleet_config(settings: Settings, *, num_gpus: float | None = None) -> FleetConfig:
    """The deployment's placement and scaling; ``num_gpus`` resolves an unset setting."""
    from generation.fleet.deploy import FleetConfig

    gpus = settings.ray_num_gpus if settings.ray_num_gpus is not None else num_gpus
    return FleetConfig(
        app_name=settings.ray_app_name,
        num_gpus=gpus or 0.0,
        min_replicas=settings.ray_min_replicas,
        max_replicas=max(settings.ray_max_replicas, settings.ray_min_replicas),
        target_ongoing_requests=settings.ray_target_ongoing_requests,
        max_ongoing_requests=settings.ray_max_ongoing_requests,
    )


def cluster_gpus() -> float:
    """1 GPU per replica when the connected cluster has GPUs, else 0 (CPU replicas)."""
    import ray

    gpus = float(ray.cluster_resources().get("GPU", 0.0))  # type: ignore[no-untyped-call]
    return 1.0 if gpus >= 1.0 else 0.0


def serve_application(settings: Settings, build: EngineBuilder) -> str:
    """What ``riffbot serve`` does: join the cluster, deploy (or update) the application."""
    from generation.fleet.deploy import connect_ray, deploy

    connect_ray(settings.ray_address or "auto")
    config = fleet_config(settings, num_gpus=cluster_gpus())
    deploy(ReplicaEngine.of(settings, build), config)
    return config.app_name


def build_fleet_runner(settings: Settings, build: EngineBuilder) -> FleetRunner:
    """The bot's runner on the cluster; it joins on the first job and re-joins after a loss.

    Without ``RIFFBOT_RAY_ADDRESS`` it starts a local Ray and deploys the application itself,
    so ``RIFFBOT_ENGINE=ray`` can be tried on one machine.
    """
    from generation.fleet.deploy import app_handle, connect_ray, deploy
    from generation.fleet.runner import FleetRunner, Handle

    def connect() -> Handle:
        connect_ray(settings.ray_address)
        if settings.ray_address is None:
            return deploy(
                ReplicaEngine.of(settings, build), fleet_config(settings, num_gpus=cluster_gpus())
            )
        return app_handle(settings.ray_app_name)

    return FleetRunner(
        connect, max_attempts=settings.ray_max_attempts, reconnect_s=settings.ray_reconnect_s
    )
