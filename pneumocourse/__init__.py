"""pneumocourse: the course built on the pneumolib library, what the numbered notebooks call.

One module per job of the notebooks: ``nbtools`` (parameters, profiles, the session),
``narrative`` (sentences rendered from results), ``plots`` and ``explorers`` (figures and widgets),
``goal`` (06's goal check), ``search`` and ``best`` (06's best-model search and its final model),
``shift_study`` (07's study), ``reference`` (the published reference results a fresh runtime
fetches), ``notebooks`` (where the numbered notebooks are) and ``teaching`` (nbgrader releases and
autograding). ``python -m pneumocourse`` is its command line. It imports the library; the library
never imports it.
"""

import pneumolib  # noqa: F401  first, as every notebook's first import: it makes torchvision importable
