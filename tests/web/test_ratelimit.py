"""The per-client token bucket, on a hand-driven clock."""

from __future__ import annotations

from web.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_steady_rate_and_clients_apart() -> None:
    clock = Clock()
    limiter = RateLimiter(per_s=2.0, burst=3, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # another client has its own bucket
    clock.now += 0.5  # one token back
    assert limiter.allow("a")
    assert not limiter.allow("a")


def test_forgotten_clients_are_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(per_s=1.0, burst=1, max_clients=2, clock=clock)
    for name in ("a", "b", "c"):
        assert limiter.allow(name)
    assert not limiter.allow("c")
    assert limiter.allow("a")  # "a" was forgotten (oldest), so it starts full again
