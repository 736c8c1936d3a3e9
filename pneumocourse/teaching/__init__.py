"""Teaching: the notebooks' graded exercises as a course assignment, through nbgrader.

``exercises`` reads the graded cells; ``course`` lays out an nbgrader course folder with an
embedded sqlite gradebook; ``release`` writes the student versions; ``grade`` autogrades a
folder of submissions. ``python -m pneumocourse assignments release|grade`` are the front ends.
"""

ASSIGNMENT = "pneumolib"  # the nbgrader assignment id that holds the numbered notebooks
