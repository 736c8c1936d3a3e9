"""Grades for a learning-management system: one CSV that Canvas and Moodle import as it is.

``lms_grades.csv`` has one row per student and one column per notebook with its auto-graded points,
then the auto-graded total, in Canvas's gradebook layout:

- ``Student``: the student's id (the name of their submission folder);
- ``SIS Login ID``: the same id, the column Canvas matches students by (Moodle: map it to
  "username" or "ID number" in *Grades > Import > CSV file*);
- ``NN_name (auto-graded)``: that notebook's auto-graded points;
- ``Auto-graded total``.

The first data row is Canvas's ``Points Possible`` row (the maximum of each column); Moodle
reports it as an unknown user and skips it. Written answers are graded by hand (with the rubrics
in ``rubrics.csv`` and ``written/``) and entered in the LMS afterwards.
"""

from __future__ import annotations

import pandas as pd

POINTS_POSSIBLE = "Points Possible"


def lms_table(grades: pd.DataFrame) -> pd.DataFrame:
    """The LMS import table from the grades table (student, notebook, exercise, kind, points,
    max_points): auto-graded points per notebook and in total, with the points-possible row first."""
    auto = grades[grades.kind == "auto"]
    points = auto.pivot_table(index="student", columns="notebook", values="points", aggfunc="sum", sort=True)
    maximum = auto.groupby(["student", "notebook"]).max_points.sum().groupby("notebook").max()
    points.columns = [f"{name} (auto-graded)" for name in points.columns]
    points["Auto-graded total"] = points.sum(axis=1)
    possible = [*(maximum[name] for name in maximum.index), maximum.sum()]
    table = points.reset_index().rename(columns={"student": "Student"})
    table.insert(1, "SIS Login ID", table["Student"])
    header = pd.DataFrame([[POINTS_POSSIBLE, "", *possible]], columns=table.columns)
    return pd.concat([header, table], ignore_index=True)
