"""Rubrics: every written question has criteria adding up to its points, and the final project's
brief shows the rubric the code holds."""

from pathlib import Path

from pneumocourse.notebooks import notebook_paths
from pneumocourse.teaching.exercises import notebook_exercises
from pneumocourse.teaching.rubrics import PROJECT_RUBRIC, project_rubric_markdown, rubric_table


def test_every_written_question_has_a_rubric_that_adds_up_to_its_points():
    exercises = [e for path in notebook_paths() for e in notebook_exercises(path)]
    table = rubric_table(exercises)  # raises for a missing rubric or a wrong total
    written = {e.grade_id: e.points for e in exercises if e.kind == "written"}
    assert table.groupby("exercise").points.sum().to_dict() == written and len(written) == len(notebook_paths())


def test_the_project_brief_renders_the_rubric_and_names_the_honesty_check():
    brief = (notebook_paths()[0].parent / "final_project.md").read_text()
    start = brief.index("-->", brief.index("<!-- rubric")) + len("-->\n")
    assert brief[start:brief.index("<!-- /rubric -->")] == project_rubric_markdown()
    assert "honesty_check(procedure" in brief and sum(p for _, p in PROJECT_RUBRIC) == 20



def prompts_with_criteria(folder: Path) -> int:
    """How many written prompts of ``folder``'s notebooks end with their criteria as the student
    reads them (and show no grader's note); fails on a prompt that does not."""
    import nbformat

    from pneumocourse.teaching.exercises import nbgrader_meta
    from pneumocourse.teaching.rubrics import RUBRICS, criteria_markdown

    shown = 0
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        for prompt in nbformat.read(path, as_version=4).cells:
            grade_id = nbgrader_meta(prompt).get("grade_id", "")
            if grade_id.endswith("_prompt") and grade_id.removesuffix("_prompt") in RUBRICS:
                question = grade_id.removesuffix("_prompt")
                assert prompt.source.rstrip().endswith(criteria_markdown(question)), (path.name, question)
                assert not any(c.looks_for in prompt.source for c in RUBRICS[question]), (path.name, question)
                shown += 1
    return shown


def test_every_written_prompt_ends_with_its_criteria_as_the_student_reads_them():
    """The criteria (what is graded, not the answer) are on the page; the student release keeps
    them (tests/test_assignments.py)."""
    from pneumocourse.teaching.rubrics import RUBRICS

    assert prompts_with_criteria(notebook_paths()[0].parent) == len(RUBRICS)
