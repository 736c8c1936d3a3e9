"""The executors: pool workers die with their parent (even by SIGKILL), normal shutdown, in-process futures."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from pneumolib.experiments.executors import InProcessExecutor, process_pool

pytestmark = pytest.mark.integration  # starts processes: the integration layer

REPO = Path(__file__).resolve().parents[1]

# A sweep's parent in miniature: a pool of two workers, each given long work. It reports the pids once
# the first worker runs its task (its watchdog is up) and the second was just started for the second task
# (still importing, before the initializer has run: the race where the parent dies before the watchdog).
PARENT_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path

    def busy(marker_dir):
        Path(marker_dir, str(os.getpid())).touch()
        time.sleep(120)

    if __name__ == "__main__":
        from pneumolib.experiments.executors import process_pool
        marker_dir = Path(sys.argv[1])
        executor = process_pool(2)
        executor.submit(busy, marker_dir)
        while not any(marker_dir.iterdir()):  # the first worker is busy
            time.sleep(0.02)
        executor.submit(busy, marker_dir)  # no idle worker: the pool starts the second one now
        assert len(executor._processes) == 2
        print(" ".join(map(str, executor._processes)), flush=True)
        time.sleep(300)
""")


def gone(process: psutil.Process) -> bool:
    """Exited: no such process, or a zombie nobody reaps (a container's PID 1 may not reap orphans)."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_until_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in processes if not gone(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def kill_all(processes: list[psutil.Process]) -> None:
    for p in processes:
        try:
            p.kill()  # psutil checks the pid was not reused by another process meanwhile
        except psutil.Error:
            pass


@pytest.mark.skipif(sys.platform != "linux", reason="reparenting on the parent's death is POSIX; tested on Linux")
def test_pool_workers_exit_when_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT_SCRIPT)
    markers = tmp_path / "markers"
    markers.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    parent = subprocess.Popen([sys.executable, str(script), str(markers)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    descendants: list[psutil.Process] = []
    try:
        ready, _, _ = select.select([parent.stdout], [], [], 60)
        line = parent.stdout.readline() if ready else ""
        assert line.strip(), f"the parent printed no worker pids (exit code {parent.poll()})"
        worker_pids = [int(pid) for pid in line.split()]
        descendants = psutil.Process(parent.pid).children(recursive=True)  # the workers and the resource tracker
        workers = [p for p in descendants if p.pid in worker_pids]
        assert len(workers) == 2 and not [p for p in workers if gone(p)]
        assert (markers / str(worker_pids[0])).exists()  # the first is busy with its task

        parent.send_signal(signal.SIGKILL)  # as a batch scheduler or a crash would: no cleanup in the parent
        parent.wait(10)

        survivors = wait_until_gone(workers, timeout=15)
        assert not survivors, f"workers outlived their killed parent: {[p.pid for p in survivors]}"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        kill_all(descendants)


def test_process_pool_runs_tasks_and_shuts_down():
    executor = process_pool(2)
    try:
        futures = [executor.submit(pow, base, 2) for base in range(4)]
        assert [f.result(timeout=60) for f in futures] == [0, 1, 4, 9]
        assert list(executor.map(abs, [-1, -2])) == [1, 2]
        workers = [psutil.Process(pid) for pid in executor._processes]
        assert workers and not [p for p in workers if gone(p)]  # the watchdog leaves a live parent's workers be
    finally:
        executor.shutdown(wait=True)
    try:
        assert not wait_until_gone(workers, timeout=5)
    finally:
        kill_all(workers)


def test_in_process_executor_returns_done_futures_and_raises_through_result():
    executor = InProcessExecutor()
    calls = []
    future = executor.submit(lambda a, b=0: calls.append(os.getpid()) or a + b, 2, b=3)
    assert future.done() and future.result() == 5 and calls == [os.getpid()]  # ran at once, in this process

    failing = executor.submit(int, "not a number")
    assert failing.done() and isinstance(failing.exception(), ValueError)
    with pytest.raises(ValueError, match="not a number"):
        failing.result()

    assert list(executor.map(len, ["a", "bb"])) == [1, 2]
    with executor:  # the Executor context manager works (shutdown is a no-op)
        assert executor.submit(sum, [1, 2]).result() == 3
