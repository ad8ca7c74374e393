"""``/metrics``: Prometheus figures read at scrape time from the database and the radios.

Read at scrape time rather than counted as events: the database is the source of truth for
jobs (several processes may write it), and a restart then never resets a job figure. No
label carries a guild id, so the page lists no servers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import Job, JobStatus

GENERATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
HISTOGRAM_JOBS = 10_000  # the most recent finished jobs the histogram covers


@dataclass(frozen=True)
class JobFigures:
    by_state_kind: dict[tuple[str, str], int]
    generation_seconds: list[float]


def job_figures(session: Session) -> JobFigures:
    counts = {
        (str(status), str(kind)): int(n)
        for status, kind, n in session.execute(
            select(Job.status, Job.kind, func.count()).group_by(Job.status, Job.kind)
        )
    }
    rows = session.execute(
        select(Job.started_at, Job.finished_at)
        .where(Job.status == JobStatus.DONE, Job.started_at.is_not(None))
        .order_by(Job.id.desc())
        .limit(HISTOGRAM_JOBS)
    )
    seconds = [max(0.0, (done - start).total_seconds()) for start, done in rows if start and done]
    return JobFigures(counts, seconds)


@dataclass(frozen=True)
class RadioFigures:
    stations: int
    clips_buffered: int
    underruns: int
    listeners: int


class RiffbotCollector(Collector):
    def __init__(self, jobs: Callable[[], JobFigures], radios: Callable[[], RadioFigures]) -> None:
        self._jobs = jobs
        self._radios = radios

    def collect(self) -> Iterator[Metric]:
        figures = self._jobs()
        queued = sum(n for (state, _), n in figures.by_state_kind.items() if state == "queued")
        yield GaugeMetricFamily("riffbot_queue_depth", "Jobs waiting to run.", value=queued)
        jobs = GaugeMetricFamily(
            "riffbot_jobs", "Jobs by state and kind.", labels=["state", "kind"]
        )
        for (state, kind), n in sorted(figures.by_state_kind.items()):
            jobs.add_metric([state, kind], n)
        yield jobs
        yield _histogram(figures.generation_seconds)
        radio = self._radios()
        yield GaugeMetricFamily("riffbot_radio_stations", "Radios playing.", value=radio.stations)
        yield GaugeMetricFamily(
            "riffbot_radio_clips_buffered",
            "Clips generated ahead of playback, all radios.",
            value=radio.clips_buffered,
        )
        yield CounterMetricFamily(
            "riffbot_radio_underruns",
            "Times a radio looped a clip because the next was not ready.",
            value=radio.underruns,
        )
        yield GaugeMetricFamily(
            "riffbot_radio_listeners", "Browsers streaming a radio.", value=radio.listeners
        )


def _histogram(values: Iterable[float]) -> HistogramMetricFamily:
    data = sorted(values)
    buckets: list[tuple[str, float]] = []
    i = 0
    for bound in GENERATION_BUCKETS:
        while i < len(data) and data[i] <= bound:
            i += 1
        buckets.append((repr(bound), float(i)))
    buckets.append(("+Inf", float(len(data))))
    return HistogramMetricFamily(
        "riffbot_generation_seconds",
        "Seconds from a job's start to its end (recent finished jobs).",
        buckets=buckets,
        sum_value=sum(data),
    )


def registry(collector: Collector) -> CollectorRegistry:
    """A registry of our own (no process-wide default), so tests and apps never share one."""
    reg = CollectorRegistry(auto_describe=False)  # describing would query at start-up
    reg.register(collector)
    return reg
