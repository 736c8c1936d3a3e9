"""One companion per numbered notebook, named as the notebook without its number
(``notebooks/04_gradcam.ipynb`` ↔ :mod:`pneumocourse.companions.gradcam`).

Each holds what its notebook calls and nothing else: ``setup`` (the notebook's parameters
checked, the smoke profile applied, the session started: one call in the notebook's setup cell),
and its findings (sentences rendered from its results). Only its notebook imports it. What several
notebooks, the command line or the grader share lives beside this package: ``nbtools``,
``narrative``, ``plots``, ``explorers``, ``goal``, and the studies ``search`` (06),
``final_model`` (06's decisions and final models) and ``adaptation`` (07).
"""
