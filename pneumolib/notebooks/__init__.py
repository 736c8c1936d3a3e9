"""Notebook support: parameters and profiles (``nbtools``), every figure a notebook shows
(``plots``), and the papermill suite runner (``suite``). The top of the flow: it imports the
stages, and no stage imports it."""
