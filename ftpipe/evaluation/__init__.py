"""Scoring a classifier: predictions, accuracy/F1/calibration, and the figures a person looks at."""
