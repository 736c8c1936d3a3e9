"""Executors for the runner: a process pool whose workers die with their parent, and an
in-process executor for small jobs (progress bars, no start-up cost, easy debugging).

Any other :class:`concurrent.futures.Executor` works too, a Dask cluster's
``client.get_executor()`` among them.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, Callable

PARENT_POLL_SECONDS = 0.5


class InProcessExecutor(Executor):
    """Runs each submitted call at once, in this process (a future that is already done)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # reported through the future, as a pool would
            future.set_exception(exc)
        return future


def exit_when_parent_is_gone(parent_pid: int) -> None:
    """In a worker: a daemon thread that ends the process as soon as its parent has gone (killed
    by a batch scheduler, a crash or SIGKILL), so no idle worker holds memory as an orphan."""

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(PARENT_POLL_SECONDS)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _start_worker(parent_pid: int, gpus: Any) -> None:
    """A worker's start: watch the parent and, on a GPU machine, take one GPU of its own (before
    torch touches CUDA, so that the worker's ``cuda`` is that GPU)."""
    exit_when_parent_is_gone(parent_pid)
    if gpus is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpus.get())


def process_pool(workers: int, gpus: int = 0) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes started by ``spawn`` (safe with torch threads) whose workers
    exit when this process is gone. With ``gpus``, worker i gets GPU i (``workers`` <= ``gpus``)."""
    if gpus and workers > gpus:
        raise ValueError(f"{workers} workers cannot each have one of {gpus} GPUs; use at most {gpus} workers.")
    context = multiprocessing.get_context("spawn")
    queue = None
    if gpus:  # handed to each worker as it starts, so a plain queue will do (no manager process)
        queue = context.Queue()
        for index in range(workers):
            queue.put(index)
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker,
                               initargs=(os.getpid(), queue))
