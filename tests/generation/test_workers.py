"""The post-processing pool's processes: they yield the cores and survive a dead worker.

Real spawn processes, since what is tested is what the operating system and the libraries in
the child see.
"""

from __future__ import annotations

import operator
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from generation.workers import WORKER_NICENESS, PostPool

# A program that loads numpy before it starts the pool, as the bot and the benchmarks do:
# spawn re-imports the main module in every worker, so there OpenBLAS is loaded (its thread
# count fixed by then) before the pool's initializer runs.
PROGRAM = """
import os
import numpy as np
from threadpoolctl import threadpool_info
from generation.workers import PostPool

def own_limits():
    np.ones((64, 64)) @ np.ones((64, 64))  # BLAS is loaded and has run
    threads = sorted({int(pool["num_threads"]) for pool in threadpool_info()})
    return os.nice(0), threads

if __name__ == "__main__":
    pool = PostPool(1)
    niceness, threads = pool.run(own_limits)
    pool.close()
    print(os.nice(0), niceness, threads)
"""


def _die() -> None:
    os._exit(3)  # what a segfault in a native library looks like to the pool


@pytest.fixture(scope="module")
def pool() -> Iterator[PostPool]:
    pool = PostPool(1)
    yield pool
    pool.close()


def test_workers_run_at_lower_priority_with_one_thread_per_native_pool(tmp_path: Path) -> None:
    script = tmp_path / "program.py"
    script.write_text(PROGRAM, encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env["PYTHONPATH"] = str(root)
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    parent, niceness, threads = done.stdout.split(maxsplit=2)
    assert int(niceness) == min(19, int(parent) + WORKER_NICENESS)
    assert threads.strip() == "[1]"  # a process per core: no library may spin up more


def test_a_dead_worker_fails_its_job_and_the_next_job_gets_a_fresh_one(pool: PostPool) -> None:
    with pytest.raises(BrokenProcessPool):
        pool.run(_die)
    assert pool.run(operator.add, 2, 3) == 5


def test_a_closed_pool_refuses_work() -> None:
    pool = PostPool(1)
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(operator.add, 1, 1)
    with pytest.raises(ValueError, match="at least one worker"):
        PostPool(0)
