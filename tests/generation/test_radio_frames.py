"""Frames prepared ahead of the player: rendered on the pump's thread, never out of order."""

from __future__ import annotations

import threading

import pytest

from generation.radio_frames import FramePump

WAIT_S = 10.0


class Counter:
    """A frame source numbering its frames and noting which thread rendered each."""

    def __init__(self, signal_at: int = 0) -> None:
        self.threads: list[int] = []
        self.reached = threading.Event()
        self.signal_at = signal_at

    def __call__(self) -> bytes:
        index = len(self.threads)
        self.threads.append(threading.get_ident())
        if self.signal_at and len(self.threads) >= self.signal_at:
            self.reached.set()
        return index.to_bytes(4, "little")


def test_frames_come_out_in_order_however_reader_and_pump_race() -> None:
    source = Counter()
    pump = FramePump(source, ahead=3)
    try:
        frames = [int.from_bytes(pump.read(), "little") for _ in range(3000)]
    finally:
        pump.stop()
    assert frames == list(range(3000))


def test_the_pump_renders_ahead_so_the_player_only_pops() -> None:
    ahead = 5
    source = Counter(signal_at=ahead + 1)
    pump = FramePump(source, ahead=ahead)
    try:
        first = pump.read()
        assert source.reached.wait(WAIT_S), "the pump never filled its buffer"
        rendered_before = len(source.threads)
        frames = [pump.read() for _ in range(ahead)]
    finally:
        pump.stop()
    reader = threading.get_ident()
    assert first == (0).to_bytes(4, "little")
    assert [int.from_bytes(f, "little") for f in frames] == list(range(1, ahead + 1))
    # the reader rendered at most the very first frame itself; all the rest was the pump's
    assert source.threads[1:rendered_before].count(reader) == 0
    assert pump.rendered_by_reader <= 1


def test_a_stopped_pump_still_serves_frames_from_the_reader() -> None:
    source = Counter()
    pump = FramePump(source, ahead=2)
    pump.read()
    pump.stop()
    after = [pump.read() for _ in range(5)]
    assert len(after) == 5
    numbers = [int.from_bytes(f, "little") for f in after]
    assert numbers == sorted(numbers)
    assert numbers[0] == 1
    with pytest.raises(ValueError, match="at least one"):
        FramePump(source, ahead=0)
