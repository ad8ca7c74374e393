"""``riffbot serve``: deploy the generation application onto a running Ray cluster.

The cluster is made with Ray's own commands (``ray start --head`` on the first GPU machine,
``ray start --address HEAD:6379`` on the others); this deploys one engine replica per GPU on
it and returns. The application keeps running on the cluster; bots started with
``RIFFBOT_ENGINE=ray`` and the same ``RIFFBOT_RAY_ADDRESS`` and ``RIFFBOT_RAY_APP_NAME`` use it.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from riffbot.settings import Settings

NO_RAY = "riffbot serve: Ray is not installed; install the `ray` extra: pip install 'riffbot[ray]'"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "serve",
        help="deploy the generator onto a Ray cluster (RIFFBOT_RAY_*)",
        description="Deploy the generation application (one engine per GPU) onto the Ray "
        "cluster at RIFFBOT_RAY_ADDRESS (default: auto, this machine's cluster).",
    )
    parser.add_argument("--address", help="cluster address (overrides RIFFBOT_RAY_ADDRESS)")
    parser.set_defaults(func=serve_command)


def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        import ray  # noqa: F401
    except ImportError:
        print(NO_RAY, file=sys.stderr)
        return 2
    from riffbot.fleet import fleet_config, serve_application
    from riffbot.wiring import build_engine

    if args.address:
        settings = settings.model_copy(update={"ray_address": args.address})
    try:
        name = serve_application(settings, build_engine)
    except ConnectionError as error:
        print(f"riffbot serve: cannot reach the Ray cluster: {error}", file=sys.stderr)
        return 1
    config = fleet_config(settings)
    replicas = (
        f"{config.min_replicas}"
        if config.min_replicas == config.max_replicas
        else f"{config.min_replicas}-{config.max_replicas}"
    )
    print(f"riffbot serve: application '{name}' is ready ({replicas} replica(s)).")
    print("Start bots with RIFFBOT_ENGINE=ray and the same RIFFBOT_RAY_ADDRESS to use it.")
    return 0
