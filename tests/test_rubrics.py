"""Rubrics: every written question has criteria adding up to its points, and the final project's
brief shows the rubric the code holds."""

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
