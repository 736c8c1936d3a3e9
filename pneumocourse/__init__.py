"""pneumocourse: the course built on the pneumolib library, what the numbered notebooks call.

``companions`` holds one module per notebook (its setup, its study, its findings). Beside it, what
several notebooks share: ``nbtools`` (parameter checks, profiles, the session), ``narrative``
(wording for sentences rendered from results), ``plots`` and ``explorers`` (figures and widgets),
``goal`` (the project's goal), ``search`` (the best-model search), ``reference`` (the published
reference results a fresh runtime fetches) and ``notebooks`` (where the numbered notebooks are).
``teaching`` makes nbgrader releases and grades a class; ``python -m pneumocourse`` is the command
line. It imports the library; the library never imports it.
"""

import pneumolib  # noqa: F401  first, as every notebook's first import: it makes torchvision importable
