"""One kernel for all of one student's notebooks, reset between them.

Starting a kernel and importing torch and the library costs seconds per notebook, about half of a
smoke grading's CPU time. Since verdicts are judged outside the kernel
(:mod:`~pneumocourse.teaching.judge`), a kernel that serves all of one student's notebooks in turn
decides nothing: whatever one notebook leaves in it can change only what that student hands in
later, which the judge checks anyway. Between notebooks the kernel is reset (its names, figures,
working folder and execution count), so each notebook runs as it would alone. A kernel that died,
or whose notebook had a cell stopped at its time limit, is replaced by a fresh one.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from jupyter_core.utils import run_sync

RESET = """\
import os as _os, sys as _sys
_sys.modules.get("matplotlib.pyplot") and _sys.modules["matplotlib.pyplot"].close("all")
_os.chdir(_sys._pneumocourse_start_folder)
get_ipython().reset(new_session=True)
__import__("gc").collect()
"""
REMEMBER_START = "import os as _os, sys as _sys\n_sys._pneumocourse_start_folder = _os.getcwd()\ndel _os, _sys\n"


class StudentKernel:
    """The kernel that one student's notebooks share, started by the first notebook's executor
    (so with its kernel manager class: the sandbox's, when grading sandboxed)."""

    def __init__(self) -> None:
        self.km = None
        self.fresh_needed = True
        self.started = 0  # how many kernels this student needed (1 unless one died, hung or refused its reset)

    def attach(self, executor) -> bool:
        """Give ``executor`` this student's kernel, starting one when there is none or the last one
        cannot be reused; whether it is a reused one (which must then be reset)."""
        if self.km is not None and not self.fresh_needed and run_sync(self.km.is_alive)():
            executor.km = self.km
            return True
        self.shutdown()
        executor.km = executor.create_kernel_manager()
        executor.start_new_kernel()
        self.km, self.fresh_needed = executor.km, False
        self.started += 1
        return False

    def after(self, nb) -> None:
        """After a notebook: a cell stopped at its limit leaves a kernel that the next notebook must
        not inherit (one that died is found by :meth:`attach`)."""
        stopped = any(o.get("ename") == "CellTimeoutError" for cell in nb.cells
                      for o in cell.get("outputs", []) if o.get("output_type") == "error")
        self.fresh_needed = self.fresh_needed or stopped

    def shutdown(self) -> None:
        """Stop the kernel, if one runs."""
        km, self.km = self.km, None
        if km is not None:
            try:
                run_sync(km.shutdown_kernel)(now=True)
            except Exception:  # a kernel that is gone already
                pass


def _run_quietly(executor, code: str) -> bool:
    """Run ``code`` in the executor's kernel, out of the notebook; whether it ran without error."""
    try:
        reply = executor.wait_for_reply(executor.kc.execute(code, silent=True, store_history=False))
    except Exception:  # no reply in time, or the kernel died
        return False
    return reply is not None and reply["content"].get("status") == "ok"


def shared_kernel_execute(base: type, kernel: StudentKernel) -> type:
    """``base`` (nbgrader's ``Execute`` or a subclass) running every notebook in ``kernel``."""

    class SharedKernelExecute(base):
        @contextmanager
        def setup_kernel(self, **kwargs) -> Iterator[None]:
            reused = kernel.attach(self)
            self.owns_km = False
            with super().setup_kernel(cleanup_kc=False, **kwargs):
                if reused and not _run_quietly(self, RESET):  # a kernel that refuses its reset is replaced
                    self.kc.stop_channels()
                    kernel.fresh_needed = True
                    kernel.attach(self)
                    self.start_new_kernel_client()
                    reused = False
                if not reused:
                    _run_quietly(self, REMEMBER_START)
                try:
                    yield
                finally:
                    kernel.after(self.nb)
                    self.kc.stop_channels()

    SharedKernelExecute.__name__ = base.__name__
    return SharedKernelExecute
