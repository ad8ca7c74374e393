"""What crosses the cluster between a ``FleetRunner`` and a replica: plain, picklable data.

Failures travel as data (``Failed``) rather than as exceptions, so the runner can tell a job
that failed (say so, do not retry) from a replica that died under it (run it again elsewhere).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from generation.types import GenerationRequest, Priority, Progress


class Want(enum.StrEnum):
    FILES = "files"  # MP3, raw PNG, picture and JSON record as bytes (the bot)
    RESULT = "result"  # the raw result with its audio (the radio mixes it itself)


@dataclass(frozen=True)
class JobOrder:
    """One job for a replica. ``job_id`` makes it idempotent: a replica that already runs or
    ran this id attaches to that run instead of starting another."""

    job_id: str
    owner: str
    request: GenerationRequest
    priority: Priority = Priority.INTERACTIVE
    want: Want = Want.FILES


@dataclass(frozen=True)
class ClipBytes:
    """A finished clip's four files, as the replica's writer made them."""

    mp3: bytes
    raw_png: bytes
    picture_png: bytes | None  # radio clips have no readable picture
    params_json: bytes
    duration_s: float
    timings: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Accepted:
    """First event of every stream: which replica took the job."""

    replica: str


@dataclass(frozen=True)
class Done:
    """The job's one result; ``replica`` names who made it (for logs and tests)."""

    value: ClipBytes | Any
    replica: str


@dataclass(frozen=True)
class Failed:
    """The job failed on a live replica; ``kind`` is ``cancelled``, ``refused`` or ``error``
    and ``message`` is safe to show to the person who asked."""

    kind: str
    message: str
    replica: str


Event = Accepted | Progress | Done | Failed
"""Everything a replica streams: ``Accepted``, progress, then one ``Done`` or ``Failed``."""
