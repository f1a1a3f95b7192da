"""Ship the chosen variant: copy its self-contained directory to deploy/, log and register it in MLflow."""
from __future__ import annotations

import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from stages.core.io import atomic_path

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
EXAMPLE = ["a warm, funny and moving film", "a dull, lifeless mess"]


def ship(variant_dir: Path, deploy_dir: Path) -> Path:
    """deploy/ becomes an exact copy of the variant's directory (it already holds predict.py)."""
    with atomic_path(deploy_dir, is_dir=True) as tmp:
        shutil.copytree(variant_dir, tmp, dirs_exist_ok=True)
    return deploy_dir


def requirements() -> list[str]:
    """Pins for the serving environment, taken from what this run used."""
    pins = []
    for pkg in ("numpy", "pandas", "torch", "transformers", "onnxruntime", "mlflow"):
        try:
            pins.append(f"{pkg}=={version(pkg)}")
        except PackageNotFoundError:
            pass
    return pins


def log_and_register(deploy_dir: Path, model_name: str | None, tags: dict[str, str]):
    """Log deploy/ as a pyfunc (signature + input example) in the active run; register it when
    `model_name` is given and tag the version. Returns the ModelInfo."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    example = pd.DataFrame({"text": EXAMPLE})
    info = mlflow.pyfunc.log_model(name="deploy_model", python_model=str(PYFUNC_CODE),
                                   artifacts={"deploy": str(deploy_dir)}, input_example=example,
                                   signature=infer_signature(example, _predict(deploy_dir, example)),
                                   pip_requirements=requirements(), registered_model_name=model_name)
    if model_name:
        client = mlflow.MlflowClient()
        for key, value in tags.items():
            client.set_model_version_tag(model_name, info.registered_model_version, key, str(value))
    return info


def _predict(deploy_dir: Path, example):
    """Outputs of the shipped code on the example, for the signature."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("deploy_predict_for_signature", deploy_dir / "predict.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import pandas as pd

    results = module.Predictor(deploy_dir).predict(list(example["text"]))
    return pd.DataFrame([{"label": r["label"], **{f"p_{k}": v for k, v in r["probabilities"].items()}}
                         for r in results])
