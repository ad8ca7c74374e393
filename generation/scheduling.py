"""The fair queue in front of the one model: who runs next, what runs together, how long to wait.

Pure bookkeeping (no threads, no torch, no clocks), so every fairness rule can be tested by
stepping it by hand. The engine wraps one ``FairQueue`` in its lock; the queue itself is not
thread-safe.

Policy
------
Two classes share the model: interactive jobs (people waiting for a reply) and radio prefetch
(background clips that keep a voice channel's buffer full).

* Within a class, owners take turns: the next entry comes from the owner who was served least
  recently (an owner never served goes first; ties go to the oldest waiting entry), and each
  owner's own entries run in the order they were submitted. So a user who queues ten jobs gets
  one turn, then everybody else who is waiting gets one, and so on; several guilds' radios take
  turns the same way.
* Interactive work goes first, except that radio is guaranteed at least one of every
  ``radio_every`` picks while it has work waiting (K = ``radio_every``; K = 1 puts radio
  first), and radio gets all the capacity that interactive work leaves idle. A radio clip lasts
  5 s and takes well under a second on a GPU, so with K = 3 a handful of radios keep their
  buffers full even when the interactive queue never empties.
* A pick is a batch: the next entry in that fair order, plus up to ``max_batch - 1`` further
  waiting entries with the same batch key, taken in fair order. Batch-mates count as served.
* Limits, checked at ``submit``: an owner may have ``max_per_owner`` interactive jobs queued or
  running (``max_per_radio_owner`` for radio owners, whose prefetch needs a few clips ahead);
  at most ``max_queued`` interactive jobs may wait. Radio does not count against the shared cap,
  so a busy server cannot starve a radio of queue room; its own per-owner limit bounds it.

Positions and ETAs are predictions from the same fair order, assuming nothing else arrives;
batching can only make a job start sooner than predicted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from generation.types import GenerationError, InvalidRequest, Priority

T = TypeVar("T")

# Owners whose last turn is forgotten once this many are remembered (only inactive ones).
_MAX_REMEMBERED_OWNERS = 10_000


class QueueFull(GenerationError):
    """The shared queue has no room; the message says so in words a user can act on."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        super().__init__(
            f"The queue is full ({capacity} jobs waiting). Please try again in a few minutes."
        )


class OwnerLimit(GenerationError):
    """This owner already has as many active jobs as allowed."""

    def __init__(self, owner: str, limit: int) -> None:
        self.owner = owner
        self.limit = limit
        jobs = "job" if limit == 1 else "jobs"
        super().__init__(
            f"You already have {limit} {jobs} queued or running. "
            "Wait for one to finish, or cancel one, then try again."
        )


@dataclass(frozen=True)
class QueueEntry(Generic[T]):
    """One waiting job. ``cost_steps`` is the number of denoising steps it is expected to run."""

    job_id: str
    owner: str
    priority: Priority
    batch_key: Hashable
    cost_steps: int
    seq: int
    payload: T
    group: str | None = None
    """Entries of one group (the takes of one ``/riff``) run as one batch and count as one job."""


@dataclass
class _Running(Generic[T]):
    entry: QueueEntry[T]
    batch_size: int
    total_steps: int
    done_steps: int = 0


@dataclass(frozen=True)
class QueueView:
    """A plain snapshot of one job, for a ``/queue`` listing."""

    job_id: str
    owner: str
    priority: Priority
    position: int  # 0 = running
    eta_s: float | None


class _DurationAverage:
    """Seconds per job-step over the last ``window`` batches.

    Counting job-steps (a batch of 4 running 38 steps is 152) makes batched and unbatched
    history comparable, so one figure prices both queued work and the running batch.
    """

    def __init__(self, window: int, initial: float | None) -> None:
        self._samples: deque[tuple[int, float]] = deque(maxlen=window)
        self._initial = initial

    def record(self, job_steps: int, seconds: float) -> None:
        if job_steps > 0 and seconds >= 0:
            self._samples.append((job_steps, seconds))

    @property
    def seconds_per_step(self) -> float | None:
        steps = sum(s for s, _ in self._samples)
        if steps == 0:
            return self._initial
        return sum(t for _, t in self._samples) / steps


class FairQueue(Generic[T]):
    """Round-robin between owners, a guaranteed radio share, same-key batching. See module doc."""

    def __init__(
        self,
        *,
        max_queued: int = 50,
        max_per_owner: int = 2,
        max_per_radio_owner: int = 4,
        radio_every: int = 3,
        eta_window: int = 20,
        initial_seconds_per_step: float | None = None,
    ) -> None:
        if min(max_queued, max_per_owner, max_per_radio_owner, radio_every, eta_window) < 1:
            raise ValueError("queue limits, radio_every and eta_window must be at least 1")
        self.max_queued = max_queued
        self.max_per_owner = max_per_owner
        self.max_per_radio_owner = max_per_radio_owner
        self.radio_every = radio_every
        self._waiting: dict[Priority, dict[str, deque[QueueEntry[T]]]] = {
            Priority.INTERACTIVE: {},
            Priority.RADIO: {},
        }
        self._queued: dict[str, QueueEntry[T]] = {}
        self._running: dict[str, _Running[T]] = {}
        self._last_served: dict[str, int] = {}
        self._tick = 0
        self._since_radio = 0
        self._seq = 0
        self._durations = _DurationAverage(eta_window, initial_seconds_per_step)

    # --- submitting and removing -----------------------------------------------------

    def submit(
        self,
        job_id: str,
        *,
        owner: str,
        priority: Priority,
        batch_key: Hashable,
        cost_steps: int,
        payload: T,
        group: str | None = None,
    ) -> QueueEntry[T]:
        """Queue a job or raise ``OwnerLimit``/``QueueFull`` (both ``GenerationError``).

        A later member of a ``group`` already queued joins it without counting again, so the
        takes of one request are admitted or refused together by their first member.
        """
        if job_id in self._queued or job_id in self._running:
            raise InvalidRequest(f"Job {job_id} is already queued or running.")
        joining = group is not None and any(e.group == group for e in self._queued.values())
        if not joining:
            limit = (
                self.max_per_owner if priority == Priority.INTERACTIVE else self.max_per_radio_owner
            )
            if self.active_count(owner) >= limit:
                raise OwnerLimit(owner, limit)
            if priority == Priority.INTERACTIVE and self.interactive_waiting() >= self.max_queued:
                raise QueueFull(self.max_queued)
        entry = QueueEntry(
            job_id, owner, priority, batch_key, max(1, cost_steps), self._seq, payload, group
        )
        self._seq += 1
        self._queued[job_id] = entry
        self._waiting[self._class(priority)].setdefault(owner, deque()).append(entry)
        return entry

    def cancel(self, job_id: str) -> QueueEntry[T] | None:
        """Remove a waiting job; ``None`` if it is not waiting (unknown, running or done)."""
        entry = self._queued.pop(job_id, None)
        if entry is not None:
            self._remove_waiting(entry)
        return entry

    def drain(self) -> list[QueueEntry[T]]:
        """Remove every waiting job, in the order they would have run."""
        order = self.fair_order()
        for entry in order:
            self.cancel(entry.job_id)
        return order

    # --- picking and finishing -------------------------------------------------------

    def pick_batch(self, max_batch: int = 1) -> list[QueueEntry[T]]:
        """Take the next fair entry plus up to ``max_batch - 1`` same-key entries; mark running.

        A grouped head takes its whole group whatever ``max_batch`` says (the takes of one
        ``/riff`` are one batch by promise), and a group is never split to fill another batch.
        """
        order = self.fair_order()
        if not order:
            return []
        head = order[0]
        if head.group is not None:
            mates = [e for e in order[1:] if e.group == head.group]
        else:
            same = [e for e in order[1:] if e.batch_key == head.batch_key and e.group is None]
            mates = same[: max(0, max_batch - 1)]
        batch = [head, *mates]
        for entry in batch:
            self.cancel(entry.job_id)
            self._last_served[entry.owner] = self._tick
            self._tick += 1
            self._running[entry.job_id] = _Running(entry, len(batch), entry.cost_steps)
        if any(self._class(e.priority) == Priority.RADIO for e in batch):
            self._since_radio = 0
        else:
            self._since_radio += 1
        self._forget_idle_owners()
        return batch

    def set_progress(self, job_id: str, done_steps: int, total_steps: int) -> None:
        """Tell the queue how far a running job is, so queued ETAs count what is left."""
        running = self._running.get(job_id)
        if running is not None:
            running.total_steps = max(1, total_steps)
            running.done_steps = min(max(0, done_steps), running.total_steps)

    def finish(self, job_id: str) -> None:
        """The job left the engine (done, failed or cancelled while running)."""
        self._running.pop(job_id, None)

    def record_duration(self, job_steps: int, seconds: float) -> None:
        """A batch ran ``job_steps`` steps in total (summed over its jobs) in ``seconds``."""
        self._durations.record(job_steps, seconds)

    # --- questions -------------------------------------------------------------------

    @property
    def seconds_per_step(self) -> float | None:
        return self._durations.seconds_per_step

    def position(self, job_id: str) -> int | None:
        """1-based place among waiting jobs, 0 while running, ``None`` when unknown."""
        if job_id in self._running:
            return 0
        if job_id not in self._queued:
            return None
        return self.positions()[job_id]

    def positions(self) -> dict[str, int]:
        """Every known job's position (0 for running) in one pass over the fair order."""
        result = {job_id: 0 for job_id in self._running}
        for index, entry in enumerate(self.fair_order()):
            result[entry.job_id] = index + 1
        return result

    def eta(self, job_id: str) -> float | None:
        """Seconds until the job should be done, or ``None`` without any timing history."""
        return self.etas().get(job_id)

    def etas(self) -> dict[str, float | None]:
        """Seconds until each known job should be done (running jobs included)."""
        rate = self.seconds_per_step
        known = list(self._running) + list(self._queued)
        if rate is None:
            return dict.fromkeys(known)
        result: dict[str, float | None] = {}
        ahead = 0
        for job_id, running in self._running.items():
            left = (running.total_steps - running.done_steps) * running.batch_size
            result[job_id] = left * rate
            ahead += running.total_steps - running.done_steps
        for entry in self.fair_order():
            ahead += entry.cost_steps
            result[entry.job_id] = ahead * rate
        return result

    def snapshot(self) -> list[QueueView]:
        """Running jobs first, then waiting ones in fair order."""
        etas = self.etas()
        views = [
            QueueView(job_id, r.entry.owner, r.entry.priority, 0, etas.get(job_id))
            for job_id, r in self._running.items()
        ]
        for index, entry in enumerate(self.fair_order()):
            views.append(
                QueueView(entry.job_id, entry.owner, entry.priority, index + 1, etas[entry.job_id])
            )
        return views

    def is_running(self, job_id: str) -> bool:
        return job_id in self._running

    def is_queued(self, job_id: str) -> bool:
        return job_id in self._queued

    def active_count(self, owner: str) -> int:
        """Queued plus running jobs of ``owner``; a group of takes counts once."""
        entries = [e for q in self._waiting.values() for e in q.get(owner, ())]
        entries += [r.entry for r in self._running.values() if r.entry.owner == owner]
        return len({e.group or e.job_id for e in entries})

    def interactive_waiting(self) -> int:
        return sum(len(q) for q in self._waiting[Priority.INTERACTIVE].values())

    def waiting_count(self) -> int:
        return len(self._queued)

    def running_count(self) -> int:
        return len(self._running)

    def __len__(self) -> int:
        return len(self._queued)

    def fair_order(self) -> list[QueueEntry[T]]:
        """Every waiting entry in the order single picks would take them (no new arrivals)."""
        heads = {
            cls: {owner: list(q) for owner, q in owners.items() if q}
            for cls, owners in self._waiting.items()
        }
        last = dict(self._last_served)
        tick = self._tick
        since_radio = self._since_radio
        order: list[QueueEntry[T]] = []
        while True:
            interactive = heads[Priority.INTERACTIVE]
            radio = heads[Priority.RADIO]
            if not interactive and not radio:
                return order
            if radio and (not interactive or since_radio >= self.radio_every - 1):
                pool, since_radio = radio, 0
            else:
                pool, since_radio = interactive, since_radio + 1
            owner = min(pool, key=lambda o: (last.get(o, -1), pool[o][0].seq))
            entry = pool[owner].pop(0)
            if not pool[owner]:
                del pool[owner]
            order.append(entry)
            last[owner] = tick
            tick += 1

    # --- internals -------------------------------------------------------------------

    @staticmethod
    def _class(priority: Priority) -> Priority:
        return Priority.INTERACTIVE if priority == Priority.INTERACTIVE else Priority.RADIO

    def _remove_waiting(self, entry: QueueEntry[T]) -> None:
        owners = self._waiting[self._class(entry.priority)]
        queue = owners.get(entry.owner)
        if queue is None:
            return
        queue.remove(entry)
        if not queue:
            del owners[entry.owner]

    def _forget_idle_owners(self) -> None:
        """Bound memory on a long-lived bot: drop the turns of owners with nothing active."""
        if len(self._last_served) <= _MAX_REMEMBERED_OWNERS:
            return
        active = {e.owner for e in self._queued.values()}
        active |= {r.entry.owner for r in self._running.values()}
        self._last_served = {o: t for o, t in self._last_served.items() if o in active}
