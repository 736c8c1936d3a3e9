"""The repository's tools, not installed: the notebook suite runner (``python -m tools.notebooks``),
its time tables, the reproduction report, and the training bench (``python -m tools.bench``). Run
them from the project's root. They import the library and the course; neither imports them."""

import pneumolib  # noqa: F401  first: it makes torchvision importable (pneumolib._torchvision_compat)
