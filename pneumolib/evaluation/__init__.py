"""Evaluation: predictions into numbers. Clinical metrics and MedMNIST's AUC/ACC pair,
ROC/PR curves, bootstrap CIs, threshold selection and sweeps, calibration.

Works on label and probability arrays only (numpy), so it imports nothing but ``data.core``;
training, experiments and notebooks all call it.
"""
