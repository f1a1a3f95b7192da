"""Ship the chosen variant: copy its self-contained directory to deploy/, log and register it in MLflow."""
from __future__ import annotations

import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from omegaconf import OmegaConf

from ftpipe.config.params import flatten
from ftpipe.infra.logs import get_logger
from ftpipe.tracking import keys
from ftpipe.tracking.identity import set_note
from ftpipe.tracking.runs import resume_run

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
EXAMPLE = ["a warm, funny and moving film", "a dull, lifeless mess"]
log = get_logger("compress")


def ship(variant_dir: Path, target: Path) -> Path:
    """`target` (deploy/, or the folder that becomes it) becomes an exact copy of the variant's directory, which
    already holds predict.py."""
    shutil.copytree(variant_dir, target, dirs_exist_ok=True)
    return target


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


def log_compression(cfg, results: dict[str, dict], winner: str, reason: str, files: list[Path],
                    deploy_dir: Path) -> None:
    """Figures, plot and report into the model's run; deploy/ as a registered pyfunc."""
    import mlflow

    c = cfg.compress
    with resume_run(cfg):
        # a dict artifact, not params: MLflow refuses to change a param when compress reruns in the same run
        mlflow.log_dict(flatten(OmegaConf.to_container(c)), "compression/config.json")
        mlflow.log_metrics(keys.compression(results, winner))
        mlflow.set_tags({"compress.shipped": winner, "compress.reason": reason[:5000]})
        r = results[winner]
        set_note({"Shipped": f"`{winner}`: accuracy {r['accuracy']:.4f} ({r['delta_accuracy']:+.4f} vs fp32), "
                             f"{r['latency_p50_ms_b1']:.1f} ms p50 at batch 1, {r['size_mb']:.1f} MB. {reason}"})
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="compression")
        tags = {"variant": winner, **{k: f"{results[winner][k]:.6g}" for k in (
            "accuracy", "macro_f1", "delta_accuracy", "latency_p50_ms_b1", "size_mb")}}
        name = c.registry.model_name if c.registry.enabled else None
        info = log_and_register(deploy_dir, name, tags)
        registered = f"; registered {name} v{info.registered_model_version}" if name else ""
        log.info("deploy/ logged as %s%s", info.model_uri, registered)
