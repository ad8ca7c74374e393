"""The fair queue on its own: turns, radio share, batching, places, ETAs and limits."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generation.scheduling import FairQueue, OwnerLimit, QueueFull
from generation.types import GenerationError, InvalidRequest, Priority

INTER, R = Priority.INTERACTIVE, Priority.RADIO


def make_queue(**limits: int) -> FairQueue[None]:
    args = {"max_queued": 100, "max_per_owner": 100, "max_per_radio_owner": 100}
    args.update(limits)
    return FairQueue(**args)


def add(
    queue: FairQueue[None],
    job_id: str,
    owner: str,
    priority: Priority = INTER,
    key: str = "k",
    cost: int = 10,
) -> None:
    queue.submit(
        job_id, owner=owner, priority=priority, batch_key=key, cost_steps=cost, payload=None
    )


def pick_all(queue: FairQueue[None], max_batch: int = 1) -> list[list[str]]:
    batches = []
    while batch := queue.pick_batch(max_batch):
        batches.append([entry.job_id for entry in batch])
        for entry in batch:
            queue.finish(entry.job_id)
    return batches


def test_a_late_user_runs_before_the_flooders_third_job() -> None:
    queue = make_queue()
    for n in range(1, 11):
        add(queue, f"a{n}", "user:a")
    first = queue.pick_batch()  # a1 is already running when b arrives
    add(queue, "b1", "user:b")
    order = [e.job_id for e in first] + [ids[0] for ids in pick_all(queue)]
    assert order.index("b1") < order.index("a3")
    assert order[:3] == ["a1", "b1", "a2"]


def test_owners_take_turns_and_keep_their_own_order() -> None:
    queue = make_queue()
    for owner in "abc":
        for n in range(1, 4):
            add(queue, f"{owner}{n}", f"user:{owner}")
    order = [ids[0] for ids in pick_all(queue)]
    assert order == ["a1", "b1", "c1", "a2", "b2", "c2", "a3", "b3", "c3"]


def test_an_owner_served_long_ago_is_not_sent_to_the_back() -> None:
    queue = make_queue()
    add(queue, "a1", "user:a")
    add(queue, "b1", "user:b")
    add(queue, "b2", "user:b")
    assert [e.job_id for e in queue.pick_batch()] == ["a1"]
    assert [e.job_id for e in queue.pick_batch()] == ["b1"]
    add(queue, "a2", "user:a")  # a was served before b's last turn
    assert queue.fair_order()[0].job_id == "a2"


@pytest.mark.parametrize("every", [1, 2, 3, 5])
def test_radio_gets_one_of_every_k_picks_under_endless_interactive_load(every: int) -> None:
    queue = make_queue(radio_every=every)
    users = [f"user:{n}" for n in range(4)]
    counter = 0
    for user in users:
        for _ in range(2):
            add(queue, f"i{counter}", user)
            counter += 1
    for n in range(50):  # more radio work than picks: radio is always waiting
        add(queue, f"r{n}", "radio:guild:1", R)
    picked: list[str] = []
    for _ in range(40):
        (entry,) = queue.pick_batch()
        queue.finish(entry.job_id)
        picked.append(entry.job_id)
        if entry.priority == INTER:  # the interactive queue never runs dry
            add(queue, f"i{counter}", entry.owner)
            counter += 1
    for start in range(len(picked) - every + 1):
        window = picked[start : start + every]
        assert any(job.startswith("r") for job in window), (start, window)
    radio_share = sum(job.startswith("r") for job in picked) / len(picked)
    assert radio_share == pytest.approx(1 / every, abs=0.05)


def test_radio_takes_all_idle_capacity_and_guilds_take_turns() -> None:
    queue = make_queue()
    for n in range(3):
        add(queue, f"g1-{n}", "radio:guild:1", R)
        add(queue, f"g2-{n}", "radio:guild:2", R)
    order = [ids[0] for ids in pick_all(queue)]
    assert order == ["g1-0", "g2-0", "g1-1", "g2-1", "g1-2", "g2-2"]


def test_interactive_goes_first_when_radio_was_just_served() -> None:
    queue = make_queue(radio_every=3)
    add(queue, "r1", "radio:guild:1", R)
    add(queue, "r2", "radio:guild:1", R)
    assert [e.job_id for e in queue.pick_batch()] == ["r1"]  # idle capacity
    add(queue, "i1", "user:a")
    add(queue, "i2", "user:b")
    add(queue, "i3", "user:c")
    order = [ids[0] for ids in pick_all(queue)]
    assert order == ["i1", "i2", "r2", "i3"]


def test_batch_takes_same_key_entries_in_fair_order_up_to_max_batch() -> None:
    queue = make_queue()
    add(queue, "a1", "user:a", key="k1")
    add(queue, "a2", "user:a", key="k1")
    add(queue, "b1", "user:b", key="k2")
    add(queue, "c1", "user:c", key="k1")
    add(queue, "d1", "user:d", key="k1")
    batches = pick_all(queue, max_batch=3)
    # fair order: a1 b1 c1 d1 a2; the k1 batch skips b1 and stops at three.
    assert batches == [["a1", "c1", "d1"], ["b1"], ["a2"]]


def test_batch_of_one_and_mates_count_as_served() -> None:
    queue = make_queue()
    add(queue, "a1", "user:a", key="x")
    add(queue, "a2", "user:a", key="x")
    add(queue, "b1", "user:b", key="x")
    add(queue, "b2", "user:b", key="y")
    assert [e.job_id for e in queue.pick_batch(2)] == ["a1", "b1"]
    add(queue, "c1", "user:c", key="z")
    # c (never served) first, then a (served before b).
    assert [e.job_id for e in queue.fair_order()] == ["c1", "a2", "b2"]
    assert queue.pick_batch(1)[0].job_id == "c1"


def test_positions_are_one_based_zero_when_running_none_when_unknown() -> None:
    queue = make_queue()
    add(queue, "a1", "user:a")
    add(queue, "a2", "user:a")
    add(queue, "b1", "user:b")
    queue.pick_batch()
    assert queue.position("a1") == 0
    assert queue.position("b1") == 1
    assert queue.position("a2") == 2
    assert queue.position("nope") is None
    assert queue.cancel("b1") is not None
    assert queue.position("a2") == 1
    assert queue.position("b1") is None
    queue.finish("a1")
    assert queue.position("a1") is None
    assert queue.positions() == {"a2": 1}


def test_eta_counts_remaining_running_steps_and_everything_ahead() -> None:
    queue = make_queue(eta_window=2)
    add(queue, "a1", "user:a", cost=10)
    add(queue, "b1", "user:b", cost=20)
    add(queue, "c1", "user:c", cost=5)
    assert queue.eta("b1") is None  # no history yet
    queue.record_duration(job_steps=100, seconds=50.0)  # 0.5 s per job-step
    queue.pick_batch()
    queue.set_progress("a1", done_steps=4, total_steps=10)
    assert queue.eta("a1") == pytest.approx(6 * 0.5)
    assert queue.eta("b1") == pytest.approx((6 + 20) * 0.5)
    assert queue.eta("c1") == pytest.approx((6 + 20 + 5) * 0.5)
    # a moving average: older samples fall out of the window
    queue.record_duration(job_steps=10, seconds=1.0)
    queue.record_duration(job_steps=10, seconds=1.0)
    assert queue.seconds_per_step == pytest.approx(0.1)


def test_eta_of_a_running_batch_scales_with_its_size() -> None:
    queue = FairQueue[None](initial_seconds_per_step=1.0)
    add(queue, "a1", "user:a", cost=10)
    add(queue, "b1", "user:b", cost=10)
    queue.pick_batch(2)
    queue.set_progress("a1", done_steps=5, total_steps=10)
    assert queue.eta("a1") == pytest.approx(5 * 2 * 1.0)


def test_cancel_removes_only_waiting_entries() -> None:
    queue = make_queue()
    add(queue, "a1", "user:a")
    add(queue, "a2", "user:a")
    queue.pick_batch()
    assert queue.cancel("a1") is None  # running: the engine handles it
    cancelled = queue.cancel("a2")
    assert cancelled is not None
    assert cancelled.job_id == "a2"
    assert queue.cancel("a2") is None
    assert queue.pick_batch() == []
    assert queue.active_count("user:a") == 1


def test_owner_limit_counts_running_jobs_and_is_a_generation_error() -> None:
    queue = make_queue(max_per_owner=2)
    add(queue, "a1", "user:a")
    add(queue, "a2", "user:a")
    queue.pick_batch()
    with pytest.raises(OwnerLimit, match="already have 2 jobs") as info:
        add(queue, "a3", "user:a")
    assert isinstance(info.value, GenerationError)
    assert info.value.limit == 2
    add(queue, "b1", "user:b")  # others are unaffected
    queue.finish("a1")
    add(queue, "a3", "user:a")


def test_queue_cap_counts_waiting_interactive_jobs_only() -> None:
    queue = make_queue(max_queued=2, max_per_radio_owner=3)
    add(queue, "a1", "user:a")
    add(queue, "b1", "user:b")
    with pytest.raises(QueueFull, match="queue is full") as info:
        add(queue, "c1", "user:c")
    assert info.value.capacity == 2
    for n in range(3):  # radio is bounded by its own per-guild limit instead
        add(queue, f"r{n}", "radio:guild:1", R)
    with pytest.raises(OwnerLimit):
        add(queue, "r3", "radio:guild:1", R)
    queue.pick_batch()  # one waiting job starts: room again
    add(queue, "c1", "user:c")


def test_duplicate_job_ids_are_refused() -> None:
    queue = make_queue()
    add(queue, "a1", "user:a")
    with pytest.raises(InvalidRequest):
        add(queue, "a1", "user:b")


def test_drain_empties_the_queue_in_run_order() -> None:
    queue = make_queue()
    add(queue, "a1", "user:a")
    add(queue, "a2", "user:a")
    add(queue, "b1", "user:b")
    assert [e.job_id for e in queue.drain()] == ["a1", "b1", "a2"]
    assert len(queue) == 0
    assert queue.active_count("user:a") == 0


def test_snapshot_lists_running_then_waiting() -> None:
    queue = make_queue()
    add(queue, "a1", "user:a")
    add(queue, "r1", "radio:guild:1", R)
    add(queue, "b1", "user:b")
    queue.pick_batch()
    views = queue.snapshot()
    assert [(v.job_id, v.position) for v in views] == [("a1", 0), ("b1", 1), ("r1", 2)]
    assert views[2].priority == R


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FairQueue[None](radio_every=0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=40))
def test_no_owner_waits_more_than_one_turn_of_everyone_else(owners: list[int]) -> None:
    """Submitted all at once, between two turns of one owner every other owner gets at most one."""
    queue = make_queue()
    for n, number in enumerate(owners):
        add(queue, f"j{n}", f"user:{number}")
    order = [queue.pick_batch()[0].owner for _ in owners]
    assert sorted(order) == sorted(f"user:{o}" for o in owners)
    for name in set(order):
        turns = [i for i, o in enumerate(order) if o == name]
        for a, b in itertools.pairwise(turns):
            between = order[a + 1 : b]
            assert len(between) == len(set(between))
