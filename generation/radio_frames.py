"""Frames prepared ahead of discord.py's player, so its 20 ms deadline never waits on work.

The player thread reads a frame, Opus-encodes and sends it, then sleeps until the next 20 ms
slot; whatever ``read()`` costs comes out of that slot, and under load (the model's thread,
the event loop and the post-processing pool all wanting the cores and the GIL) a read that
resamples and converts can land late. A :class:`FramePump` renders frames on its own thread a
few frames ahead (200 ms by default) and the player's ``read()`` only pops one from a deque.
If the pump ever falls behind, ``read()`` renders the frame itself, so nothing is skipped and
order is kept (both paths take the next frame from the same source under one lock).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable


class FramePump:
    """Keeps up to ``ahead`` frames of ``source()`` ready; ``read()`` never waits for the pump."""

    def __init__(
        self, source: Callable[[], bytes], *, ahead: int = 10, name: str = "radio-frames"
    ) -> None:
        if ahead < 1:
            raise ValueError("the pump must keep at least one frame ahead")
        self._source = source
        self._ahead = ahead
        self._frames: deque[bytes] = deque()
        self._lock = threading.Lock()  # held while taking a frame from the source
        self._wanted = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._name = name
        self.rendered_by_reader = 0

    def read(self) -> bytes:
        if self._thread is None:
            self.start()
        try:
            frame = self._frames.popleft()
        except IndexError:  # the pump fell behind: render this one here, in order
            with self._lock:
                frame = self._frames.popleft() if self._frames else self._source()
            self.rendered_by_reader += 1
        with self._wanted:
            self._wanted.notify()
        return frame

    def start(self) -> None:
        with self._wanted:
            if self._thread is not None or self._stopped:
                return
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the pump thread (frames already rendered stay readable)."""
        with self._wanted:
            self._stopped = True
            self._wanted.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    @property
    def buffered(self) -> int:
        return len(self._frames)

    def _run(self) -> None:
        while True:
            with self._wanted:
                while not self._stopped and len(self._frames) >= self._ahead:
                    self._wanted.wait()
                if self._stopped:
                    return
            with self._lock:
                self._frames.append(self._source())
