"""MLflow "model from code" wrapping a shipped deploy/ directory as a pyfunc.

Logged by `deploy.log_and_register` with the directory as the artifact `deploy`; at load time the
directory's own predict.py does the work, so MLflow serves exactly what deploy/ runs.
"""
import importlib.util
from pathlib import Path

import mlflow
import pandas as pd


class DeployedClassifier(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        directory = Path(context.artifacts["deploy"])
        spec = importlib.util.spec_from_file_location("deployed_predict", directory / "predict.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.predictor = module.Predictor(directory)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        results = self.predictor.predict([str(t) for t in model_input["text"]])
        return pd.DataFrame([{"label": r["label"], **{f"p_{k}": v for k, v in r["probabilities"].items()}}
                             for r in results])


mlflow.models.set_model(DeployedClassifier())
