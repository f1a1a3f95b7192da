"""Many runs at once and side by side: sweeps (DVC experiments, Hydra multirun, Optuna) and their reports."""
