"""The Serve side: the replica as a deployment, placing and scaling it, and connecting to it.

One replica per GPU (``num_gpus`` 1; 0 on CPU), between ``min_replicas`` and ``max_replicas``,
autoscaled on ongoing requests when the two differ. ``max_ongoing_requests`` is the queue a
replica accepts: it must exceed ``max_batch`` or the engine inside never sees enough jobs to
batch. Ray is imported only when these functions run (the ``ray`` extra).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from generation.fleet.replica import EngineFactory, EngineReplica

if TYPE_CHECKING:
    from ray.serve.handle import DeploymentHandle

DEPLOYMENT_NAME = "RiffbotEngine"


@dataclass(frozen=True)
class FleetConfig:
    """How the deployment is placed and scaled (settings fill it from ``RIFFBOT_RAY_*``)."""

    app_name: str = "riffbot"
    num_gpus: float = 0.0
    num_cpus: float = 0.0
    min_replicas: int = 1
    max_replicas: int = 1
    target_ongoing_requests: float = 4.0
    max_ongoing_requests: int = 16

    def deployment_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "name": DEPLOYMENT_NAME,
            "ray_actor_options": {"num_gpus": self.num_gpus, "num_cpus": self.num_cpus},
            "max_ongoing_requests": self.max_ongoing_requests,
            # A replica that died is replaced; its jobs are re-run by their callers.
            "health_check_period_s": 5.0,
        }
        if self.max_replicas > self.min_replicas:
            options["autoscaling_config"] = {
                "min_replicas": self.min_replicas,
                "max_replicas": self.max_replicas,
                "target_ongoing_requests": self.target_ongoing_requests,
            }
        else:
            options["num_replicas"] = self.min_replicas
        return options


def application(engine_factory: EngineFactory, config: FleetConfig) -> Any:
    """The Serve application: ``EngineReplica`` replicas each building their own engine."""
    from ray import serve

    deployment = serve.deployment(**config.deployment_options())(EngineReplica)
    return deployment.bind(engine_factory)


def deploy(engine_factory: EngineFactory, config: FleetConfig) -> DeploymentHandle[Any]:
    """Deploy (or update) the application on the connected cluster and wait until it is ready."""
    from ray import serve

    return serve.run(application(engine_factory, config), name=config.app_name, route_prefix=None)


def connect_ray(address: str | None, **init_args: Any) -> None:
    """Join the cluster at ``address`` (``ray://head:10001``, ``auto``); ``None`` starts a local
    Ray for trying. Idempotent: a process joins once."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, **init_args)


def app_handle(app_name: str) -> DeploymentHandle[Any]:
    """The handle of a deployed application; raises when it is not (or not yet) deployed."""
    from ray import serve

    return serve.get_app_handle(app_name)
