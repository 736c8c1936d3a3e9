"""One companion per numbered notebook, named as the notebook without its number
(``notebooks/04_gradcam.ipynb`` ↔ :mod:`pneumocourse.companions.gradcam`).

Each holds what its notebook calls and nothing else: ``setup`` (the notebook's parameters
checked, the smoke profile applied, the session started: one call in the notebook's setup cell),
the notebook's study where it has one, and its findings (sentences rendered from its results).
What several notebooks share lives beside this package: ``nbtools``, ``narrative``, ``plots``,
``explorers``, ``search`` and ``goal``. A companion may build on an earlier notebook's companion
(07 on 06), never on a later one.
"""
