"""Autograding a class folder with nbgrader: one subfolder per student, graded in parallel.

Each student is graded in a copy of one prepared course folder with its own sqlite gradebook,
so students never share a database or a working folder. Bad submissions (not JSON, not a
notebook, missing, edited or deleted test cells, cells that raise or never stop) each get a
line in the report; grading goes on for everyone else.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import secrets
import shutil
import time
import tempfile
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Callable, Sequence

import nbformat
import pandas as pd

from pneumolib.data.medmnist_files import DATA_ENV_VAR, resolve_data_dir
from pneumolib.errors import ConfigError
from ..final_model import DECISIONS_FILE
from ..notebooks import project_folder
from ..nbtools import SMOKE_ENV_VAR
from pneumolib.paths import REFERENCE_ENV_VAR, RESULTS_ENV_VAR, display_path, results_base, results_dir
from . import ASSIGNMENT
from .course import make_course, nbgrader_api, release_folder
from .exercises import Exercise, graded_part, nbgrader_meta, notebook_exercises
from .hand_in import SEED_ENV
from .integrity import integrity_flags
from .judge import judge_notebook
from .kernels import StudentKernel
from .lms import lms_table
from .rubrics import grading_sheets, rubric_table, written_answers
from .sandbox import Limits, prepare_scratch, require_sandbox, sandbox_command

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
GRADES_FILE, SUMMARY_FILE, REPORT_FILE = "grades.csv", "summary.csv", "report.txt"
LMS_FILE, RUBRICS_FILE, WRITTEN_FOLDER = "lms_grades.csv", "rubrics.csv", "written"
SETTINGS_FILE = "grading.json"  # the hidden cases' seed and the options: grading again with them gives the same cases


@dataclass
class StudentResult:
    """What grading one student produced: points per exercise and one line per problem."""

    student: str
    points: dict[tuple[str, str], float] = field(default_factory=dict)  # (notebook, grade_id) -> points
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def find_students(submissions: Path) -> tuple[dict[str, Path], list[str]]:
    """Student folders by id, and one problem line per folder that cannot be a student id."""
    if not submissions.is_dir():
        raise ConfigError(f"{display_path(submissions)} is not a folder; pass the folder that holds one "
                          "subfolder per student.")
    students, problems = {}, []
    for folder in sorted(p for p in submissions.iterdir() if p.is_dir()):
        if STUDENT_ID.match(folder.name):
            students[folder.name] = folder
        else:
            problems.append(f"{folder.name!r}: skipped, the folder name is not a valid student id "
                            "(letters, digits, '_', '.', '-').")
    if not students:
        raise ConfigError(f"{display_path(submissions)} holds no student folder.")
    return students, problems


def submitted_file(student_dir: Path, name: str) -> Path | None:
    """``<student>/pneumolib/<name>`` (nbgrader's layout) or ``<student>/<name>``."""
    for path in (student_dir / ASSIGNMENT / name, student_dir / name):
        if path.is_file():
            return path
    return None


def read_submission(path: Path | None, name: str) -> tuple[nbformat.NotebookNode | None, str | None]:
    """The submitted notebook, or None and the reason it cannot be graded."""
    if path is None:
        return None, f"{name}: missing; its exercises score 0."
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"{name}: not valid JSON ({exc.msg}, line {exc.lineno}); its exercises score 0."
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several types for a JSON file that is not a notebook
        return None, f"{name}: not a Jupyter notebook ({type(exc).__name__}); its exercises score 0."
    return nb, None


def test_cell_changes(submitted: nbformat.NotebookNode, released: nbformat.NotebookNode,
                      source: nbformat.NotebookNode, name: str) -> list[str]:
    """One line per locked cell that the submission edited or deleted (a cell equal to its
    released or its source version, hidden tests included, is untouched)."""
    def by_id(nb):
        return {nbgrader_meta(c)["grade_id"]: c.source.strip() for c in nb.cells if nbgrader_meta(c).get("grade_id")}

    cells, originals = by_id(submitted), by_id(source)
    lines = []
    for cell in released.cells:
        meta = nbgrader_meta(cell)
        if not meta.get("locked") or not meta.get("grade_id"):
            continue
        grade_id = meta["grade_id"]
        if grade_id not in cells:
            lines.append(f"{name}: locked cell {grade_id} was deleted; restored from the source and graded.")
        elif cells[grade_id] not in (cell.source.strip(), originals.get(grade_id)):
            lines.append(f"{name}: locked cell {grade_id} was edited; restored from the source and graded.")
    return lines


def cell_errors(autograded: Path, name: str, timeout: int, notebook_timeout: int | None = None) -> list[str]:
    """One line per cell of the autograded notebook that raised or hit a time limit (``timeout``
    per cell, ``notebook_timeout`` for all its cells)."""
    nb = nbformat.read(autograded, as_version=4)
    lines = []
    for index, cell in enumerate(nb.cells):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if any(o.get("ename") == "CellTimeoutError" for o in errors):  # the interrupt is part of the timeout
            errors = [o for o in errors if o.get("ename") != "KeyboardInterrupt"]
        for output in errors:
            where = nbgrader_meta(cell).get("grade_id") or f"cell {index}"
            if output.get("ename") == "CellTimeoutError":
                limit = f"{timeout} s" + (f" (or the notebook's {notebook_timeout} s in all)" if notebook_timeout else "")
                lines.append(f"{name}: {where} did not finish within {limit}; stopped, the rest was graded.")
            elif output.get("ename") == "NotImplementedError":
                lines.append(f"{name}: {where} failed: the exercise is not attempted (its stub raises "
                             "NotImplementedError).")
            else:
                value = str(output.get("evalue", "")).splitlines()[0][:120] if output.get("evalue") else ""
                lines.append(f"{name}: {where} raised {output.get('ename')}" + (f": {value}" if value else "") + ".")
    return lines


@dataclass(frozen=True)
class Sandbox:
    """How each student's kernel is sandboxed (see :mod:`~pneumocourse.teaching.sandbox`): the folders
    it must not see, and its limits."""

    hidden: tuple[Path, ...]
    limits: Limits = Limits()


def grade_student(student: str, files: dict[str, Path | None], template: Path, work: Path, smoke: bool,
                  cell_timeout: int, data_dir: str, sandbox: Sandbox | None = None,
                  notebook_timeout: int | None = None, seed: int = 0) -> StudentResult:
    """Autograde one student's notebooks in a copy of the prepared course (runs in a worker
    process), each kernel in the sandbox unless ``sandbox`` is None. The student's notebooks read
    and write their own copy of the seeded results, never another student's. A test cell's points
    stand only when its cell ran without error in the kernel and this process's judge accepts the
    answers it handed in to the hidden cases drawn from ``seed`` (:mod:`~pneumocourse.teaching.judge`)."""
    started = time.perf_counter()
    result = StudentResult(student)
    course = work / student
    shutil.copytree(template, course)
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    for name, path in files.items():
        nb, problem = read_submission(path, name)
        if problem:
            result.problems.append(problem)
            continue
        released = nbformat.read(release_folder(course) / name, as_version=4)
        original = nbformat.read(course / "source" / ASSIGNMENT / name, as_version=4)
        result.problems += test_cell_changes(nb, released, original, name)
        result.problems += integrity_flags(nb, original, name)
        nbformat.write(graded_part(nb, original, skip_lessons=True), folder / name)
    scratch = course / "scratch"
    scratch.mkdir()
    seeded = (work / "results").resolve()  # read, never written: each kernel writes into its own scratch
    os.environ[DATA_ENV_VAR] = data_dir
    os.environ[RESULTS_ENV_VAR] = str(scratch / "results")
    os.environ[REFERENCE_ENV_VAR] = str(seeded)
    os.environ[SEED_ENV] = str(seed)
    if smoke:
        os.environ[SMOKE_ENV_VAR] = "1"
    os.environ.setdefault("MPLBACKEND", "agg")
    if not any(folder.iterdir()):  # nothing gradable: every exercise scores 0, nbgrader has nothing to do
        result.seconds = time.perf_counter() - started
        return result
    # the connection file and sockets: a short path of its own (a Unix socket's path holds 107 characters)
    runtime = Path(tempfile.mkdtemp(prefix="pneumocourse-"))
    kernel = StudentKernel()  # one kernel for all of this student's notebooks, reset between them
    try:
        wrapper = None
        if sandbox is not None:
            prepare_scratch(scratch)
            prepare_scratch(runtime)
            notebooks = sum(1 for _ in folder.glob("*.ipynb"))  # the kernel's CPU time is that of them all
            limits = replace(sandbox.limits, cpu_seconds=sandbox.limits.cpu_seconds * notebooks)
            wrapper = sandbox_command(scratch, runtime, sandbox.hidden, limits, visible=[Path(data_dir), seeded])
        api = nbgrader_api(course, cell_timeout, wrapper, runtime, notebook_timeout=notebook_timeout, kernel=kernel)
        try:
            graded = api.autograde(ASSIGNMENT, student, force=True, create=True)
        finally:
            kernel.shutdown()
        if not graded["success"]:
            last = [line for line in graded.get("log", "").splitlines() if line.strip()][-1:] or ["no log"]
            result.problems.append(f"autograding failed: {last[0][:200]}")
        verdicts = {}
        for name in files:
            path = course / "autograded" / student / ASSIGNMENT / name
            if path.exists():
                result.problems += cell_errors(path, name, cell_timeout, notebook_timeout)
                verdicts[Path(name).stem] = judge_notebook(path, seed)
        result.problems += _keep_only_judged_points(course / "gradebook.db", student, verdicts)
        api.generate_feedback(ASSIGNMENT, student, force=True)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)  # what the kernels wrote (the executed notebooks are kept)
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        try:
            submission = gradebook.find_submission(ASSIGNMENT, student)
        except MissingEntry:
            submission = None
        for notebook in submission.notebooks if submission else []:
            for grade in notebook.grades:
                result.points[(f"{notebook.name}.ipynb", grade.name)] = float(grade.score or 0.0)
    result.seconds = time.perf_counter() - started
    return result


def _keep_only_judged_points(database: Path, student: str, verdicts: dict[str, dict[str, str | None]]) -> list[str]:
    """Set to 0, in the student's gradebook, every test cell that passed in the kernel but whose
    handed-in answers the judge refused; one report line for each."""
    from nbgrader.api import Gradebook, MissingEntry

    lines = []
    with Gradebook(f"sqlite:///{database}") as gradebook:
        for notebook, cells in verdicts.items():
            for grade_id, reason in cells.items():
                try:
                    grade = gradebook.find_grade(grade_id, notebook, ASSIGNMENT, student)
                except MissingEntry:
                    continue
                if reason is not None and (grade.auto_score or 0) > 0:
                    lines.append(f"{notebook}.ipynb: {grade_id} passed in the kernel, but the grader's judge refused "
                                 f"its answers to the hidden cases: {reason}; it scores 0.")
                    grade.auto_score = 0.0
        gradebook.db.commit()
    return lines


def _grade_in_worker(*args) -> StudentResult:
    """:func:`grade_student` in a pool worker: any exception comes back as a RuntimeError with its
    text and traceback (an exception that cannot be pickled would never come back, and the grader
    would wait for it forever)."""
    try:
        return grade_student(*args)
    except Exception as exc:
        raise RuntimeError(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}") from None


def _tables(results: list[StudentResult], exercises: list[Exercise]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [{"student": r.student, "notebook": e.notebook, "exercise": e.grade_id, "kind": e.kind,
             "points": r.points.get((f"{e.notebook}.ipynb", e.grade_id), 0.0), "max_points": e.points}
            for r in results for e in exercises]
    grades = pd.DataFrame(rows, columns=["student", "notebook", "exercise", "kind", "points", "max_points"])
    summary = grades.pivot_table(index="student", columns="exercise", values="points", sort=False)
    summary = summary.reindex(columns=[e.grade_id for e in exercises])
    summary.insert(0, "total", summary.sum(axis=1))
    summary.insert(1, "max_total", sum(e.points for e in exercises))
    return grades, summary


def grade(submissions: Path, notebooks: Sequence[Path], out: Path, smoke: bool = True, workers: int = 0,
          cell_timeout: int = 300, say: Callable[[str], None] = print, sandbox: bool = True,
          limits: Limits = Limits(), notebook_timeout: int | None = 1800,
          seed_from: Path | None = None, hidden_seed: int | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Autograde every student folder of ``submissions`` on ``notebooks`` (the complete versions).

    Writes ``out/grades.csv`` (points per student and exercise), ``out/summary.csv`` (one row per
    student), ``out/lms_grades.csv`` (for Canvas and Moodle, see :mod:`~pneumocourse.teaching.lms`),
    ``out/rubrics.csv`` and ``out/written/<exercise>.md`` (each written question's rubric, model
    answer and the students' answers, for whoever grades them), ``out/report.txt`` (one line per
    problem) and ``out/feedback/<student>/``.
    Returns the grades table and the report lines. ``out`` must not hold an earlier grading.
    The hidden tests' cases are drawn from ``hidden_seed`` (a new random one per grading when None,
    written with the options to ``out/grading.json``), and judged outside the students' kernels.
    Each notebook runs its setup and its exercise cells up to its last graded code cell, then only
    its Markdown cells (written answers are read, not run): the code cells after it cannot change a
    score, and neither can the lesson cells no graded cell needs (tables, figures, the lesson's
    training; :func:`~pneumocourse.teaching.exercises.lesson_cells`), which run only in a notebook
    whose solutions read a name they bind. Their output is not in the feedback. Each cell is stopped after ``cell_timeout`` seconds,
    and each notebook's cells after ``notebook_timeout`` seconds in all (None: no notebook limit).
    One kernel serves all of a student's notebooks, reset between them
    (:mod:`~pneumocourse.teaching.kernels`). It runs in the sandbox of
    :mod:`~pneumocourse.teaching.sandbox` with ``limits``;
    without bubblewrap grading stops with how to install it, unless ``sandbox=False``
    (``--no-sandbox``, for code you trust).
    The graders' store starts from a copy of the profile's results in this checkout, and the
    course's notebooks run once to train what it lacks; or from a copy of ``seed_from``, a results
    folder of an earlier run of these notebooks in the same profile (such as ``results/smoke``
    after ``python -m tools.notebooks run --smoke``), and the course's notebooks are not run again.
    """
    out = Path(out)
    hidden_seed = secrets.randbelow(2**31) if hidden_seed is None else int(hidden_seed)
    if sandbox:
        require_sandbox()
    if (out / GRADES_FILE).exists():
        raise ConfigError(f"{display_path(out / GRADES_FILE)} exists; grading never overwrites earlier grades. "
                          "Choose another --out.")
    students, problems = find_students(Path(submissions))
    exercises = [e for path in notebooks for e in notebook_exercises(path)]
    try:
        rubric_table(exercises)  # every written question has a rubric that adds up, before any work
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    data_dir = str(resolve_data_dir().resolve())
    work = out / "work"
    say(f"grading {len(students)} students on {len(notebooks)} notebooks ({len(exercises)} graded cells, "
        f"{'smoke' if smoke else 'default'} profile, cells stopped after {cell_timeout} s"
        + (f", notebooks after {notebook_timeout} s" if notebook_timeout else "") + ")")
    make_course(work / "_template", notebooks, cell_timeout)
    _seed_store(work / "results", smoke, seed_from)
    if seed_from is None:
        seed_with_the_course(work / "results", notebooks, smoke, cell_timeout, data_dir, say)
    else:  # an earlier run of the course's notebooks in this profile: running them again would add nothing
        say(f"the course's notebooks are not run again: the store starts from {display_path(Path(seed_from))}; "
            "a run it lacks is trained in each student's kernel")
    _readable_by_all(work / "results")  # the kernels read it as their reference, as the sandbox's user
    jail = None
    if sandbox:  # what no student's code may see: the course source, the other students, the grades, ...
        hidden = {out.resolve(), Path(submissions).resolve(), project_folder() / "notebooks", results_base().resolve(),
                  *(p.parent.resolve() for p in notebooks), *([Path(seed_from).resolve()] if seed_from else [])}
        jail = Sandbox(tuple(sorted(hidden)), limits)
        say(f"sandbox: bubblewrap, no network, read-only system, hidden: {', '.join(display_path(h) for h in sorted(hidden))}; "
            f"limits of each student's kernel: {limits.memory_bytes / 2**30:g} GiB memory, {limits.cpu_seconds} s CPU per notebook, "
            f"{limits.file_bytes / 2**20:g} MB per file, {limits.processes} processes")
    else:
        say("no sandbox (--no-sandbox): the students' code runs with your rights; use this only for code you trust")
    workers = workers or os.cpu_count() or 1
    jobs = {student: {p.name: submitted_file(folder, p.name) for p in notebooks} for student, folder in students.items()}
    results: list[StudentResult] = []
    context = multiprocessing.get_context("spawn")
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    started = context.Value("i", 0)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_own_cores,
                             initargs=(os.getpid(), started, cpus, max(1, len(cpus) // workers))) as pool:
        def submit(student, files=None):
            return pool.submit(_grade_in_worker, student, files or jobs[student], work / "_template", work, smoke,
                               cell_timeout, data_dir, jail, notebook_timeout, hidden_seed)

        if jail is not None:  # refuse before misgrading: the course's own notebooks must score everything here
            _check_the_sandbox(_course_check(submit, notebooks, workers), exercises, say)

        futures = {submit(student): student for student in jobs}
        for done, future in enumerate(as_completed(futures), start=1):
            student = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # one student's crash must not stop the class
                result = StudentResult(student, problems=[f"grading crashed: {type(exc).__name__}: {exc}"])
            results.append(result)
            total = sum(result.points.values())
            say(f"[{done}/{len(jobs)}] {student}: {total:g} of {sum(e.points for e in exercises if e.kind == 'auto'):g} "
                f"auto-graded points ({result.seconds:.0f} s, {len(result.problems)} problems)")
            _copy_feedback(work / student, out / "feedback" / student)
    results.sort(key=lambda r: r.student)
    report = problems + [f"{r.student}: {line}" for r in results for line in r.problems]
    grades, summary = _tables(results, exercises)
    out.mkdir(parents=True, exist_ok=True)
    grades.to_csv(out / GRADES_FILE, index=False)
    summary.to_csv(out / SUMMARY_FILE)
    lms_table(grades).to_csv(out / LMS_FILE, index=False)
    rubric_table(exercises).to_csv(out / RUBRICS_FILE, index=False)
    answers = {student: {k: v for name, path in files.items()
                         for k, v in written_answers(read_submission(path, name)[0] or nbformat.v4.new_notebook(),
                                                     exercises).items()}
               for student, files in jobs.items()}
    grading_sheets(exercises, {p.stem: p for p in notebooks}, answers, out / WRITTEN_FOLDER)
    (out / SETTINGS_FILE).write_text(json.dumps({"hidden_seed": hidden_seed, "profile": "smoke" if smoke else "default",
                                                 "cell_timeout": cell_timeout, "notebook_timeout": notebook_timeout,
                                                 "sandbox": sandbox, "notebooks": [p.name for p in notebooks]}, indent=1) + "\n")
    (out / REPORT_FILE).write_text("\n".join(report) + ("\n" if report else ""), encoding="utf-8")
    return grades, report


COURSE_CHECK = "course-check"  # the course's complete notebooks, graded in the sandbox before any student


def _course_check(submit: Callable, notebooks: Sequence[Path], workers: int) -> StudentResult:
    """The course's complete notebooks graded in the sandbox, dealt out to one job per worker so
    that the workers share them; their points and problems together, and the wall time of the whole."""
    started = time.perf_counter()
    shares = [list(notebooks[i::workers]) for i in range(min(workers, len(notebooks)))]
    jobs = {tuple(p.name for p in share): submit(f"{COURSE_CHECK}-{i + 1}", {p.name: p for p in share})
            for i, share in enumerate(shares)}
    check = StudentResult(COURSE_CHECK)
    for names, job in jobs.items():
        result = job.result()  # its own notebooks' points (the others, not submitted in this job, score 0)
        check.points.update({key: points for key, points in result.points.items() if key[0] in names})
        check.problems += result.problems
    check.seconds = time.perf_counter() - started
    return check


def _check_the_sandbox(check: StudentResult, exercises: list[Exercise], say: Callable[[str], None]) -> None:
    """Stop grading, before any grade is written, when the course's own complete notebooks do not
    score every auto-graded point in the sandbox: the sandbox (or the machine) would misgrade
    every student, for example when the kernel cannot read the Python that runs it."""
    wanted = sum(e.points for e in exercises if e.kind == "auto")
    scored = sum(check.points.values())
    if scored < wanted:
        reasons = "; ".join(check.problems[:3]) or "no error was reported; see the feedback of the check"
        raise ConfigError(
            f"The course's own complete notebooks score {scored:g} of {wanted:g} auto-graded points in the sandbox, "
            f"so it would misgrade the students too; no grade is written. Why: {reasons}. Make the sandbox able to "
            "run them (for example a Python that the sandbox's user can read, outside a private home folder), "
            "or pass --no-sandbox for code you trust.")
    say(f"sandbox checked: the course's complete notebooks score all {wanted:g} auto-graded points in it "
        f"({check.seconds:.0f} s)")


def _own_cores(parent_pid: int, started, cpus: list[int], per_worker: int) -> None:
    """Start a grading worker: it exits when the grader is gone (its sandboxed kernels die with
    it), and it gets cores of its own, and as many threads, for itself and the kernels it starts:
    two kernels whose OpenMP threads share the cores spin against each other and run many times
    slower (04's Grad-CAM cell took 85 s instead of 4 s)."""
    from pneumolib.experiments.executors import exit_when_parent_is_gone

    exit_when_parent_is_gone(parent_pid)
    with started.get_lock():
        index = started.value
        started.value += 1
    mine = {cpus[(index * per_worker + k) % len(cpus)] for k in range(per_worker)}
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, mine)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(per_worker)


def seed_with_the_course(results: Path, notebooks: Sequence[Path], smoke: bool, cell_timeout: int, data_dir: str,
                         say: Callable[[str], None] = print) -> None:
    """Run the course's own notebooks once, outside any sandbox (they are the instructor's code),
    so that ``results`` holds every run they train: each student then starts from a copy of it,
    and no student's code ever writes what another student's notebooks load."""
    from nbclient import NotebookClient

    env = {DATA_ENV_VAR: data_dir, RESULTS_ENV_VAR: str(results), **({SMOKE_ENV_VAR: "1"} if smoke else {})}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        for path in notebooks:
            started = time.perf_counter()
            nb = nbformat.read(path, as_version=4)
            nb = graded_part(nb, nb)  # the cells the students' notebooks run
            with TemporaryDirectory(prefix="pneumolib-seed-") as folder:
                NotebookClient(nb, timeout=cell_timeout, kernel_name="python3",
                               resources={"metadata": {"path": folder}}).execute()
            say(f"course notebook {path.stem} ran once to seed the store ({time.perf_counter() - started:.0f} s)")
    except Exception as exc:
        raise ConfigError(f"The course's own notebook {path.name} fails ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); fix it before grading.") from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _readable_by_all(folder: Path) -> None:
    """Let every user read ``folder`` (records are written 0600 by an atomic rename): the students'
    kernels read the seeded results as another user, read-only."""
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))


def _seed_store(results: Path, smoke: bool, seed_from: Path | None = None) -> None:
    """Start the graders' results folder from a copy of the run store, SSL checkpoints and 06's
    decisions (which 07 reads) of this checkout's results of the same profile, or of
    ``seed_from``, so that notebooks load their runs instead of training them once per student.
    Only copies: grading never writes into the folder it seeds from."""
    profile = Path(seed_from) if seed_from is not None else results_dir("smoke" if smoke else "default")
    if seed_from is not None and not (profile / "store").is_dir():
        raise ConfigError(f"--seed-from {display_path(profile)} holds no store/ folder; pass a results folder of the "
                          f"{'smoke' if smoke else 'default'} profile (such as results/smoke after a smoke run).")
    target = results / "smoke" if smoke else results
    for kind in ("store", "ssl"):
        if (profile / kind).is_dir():
            shutil.copytree(profile / kind, target / kind, dirs_exist_ok=True)
    decisions = profile / "metrics" / DECISIONS_FILE
    if decisions.is_file():
        (target / "metrics").mkdir(parents=True, exist_ok=True)
        shutil.copy2(decisions, target / "metrics" / DECISIONS_FILE)


def _copy_feedback(course: Path, target: Path) -> None:
    source = course / "feedback"
    for html in source.rglob("*.html") if source.exists() else []:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(html, target / html.name)
