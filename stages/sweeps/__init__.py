"""Hyperparameter sweeps (a grid of DVC experiments, one MLflow child run each) and run comparison."""
