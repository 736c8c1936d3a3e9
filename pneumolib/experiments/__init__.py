"""Experiments: many training runs. ``runs`` trains and scores one run into a record; ``runner``
runs many on any ``concurrent.futures`` executor, resumable; ``studies`` builds arms, ablations,
grids and k-fold CV and their tables; ``scoring`` scores models, ensembles and TTA on val;
``leaderboard`` collects every run next to the published results.

Imports every stage below it (data, models, evaluation, training); nothing below imports it.
"""
