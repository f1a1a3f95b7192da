"""End to end: real `dvc repro` of the whole DAG on real data, tracked in a real MLflow store."""
from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

from ftpipe.tracking.identity import git_state
from tests.helpers.faults import TIMING_KEYS
from tests.helpers.project import ROOT, STAGES, compose_params, run

TINY_RUN = ["data.max_rows=300", "train.epochs=1", "train.batch_size=16", "compress.latency.repeats=5",
            "compress.distill.epochs=1"]


def repro(project, *args):
    return run(["dvc", "repro", *args], project).stdout


def ran_stages(output: str) -> list[str]:
    return [s for s in STAGES if f"Running stage '{s}'" in output]


def check_first_run(project, output: str, classes: set[str]) -> dict:
    """What a first `dvc repro` must leave: every stage ran, every output, one finished MLflow run holding it all."""
    assert ran_stages(output) == STAGES
    for out in ["data/clean/train.parquet", "data/augmented/train.parquet", "data/tokenized/test/state.json",
                "models/finetuned/model.safetensors", "models/finetuned/tokenizer.json", "metrics/metrics.json",
                "reports/evaluate/confusion.png", "reports/evaluate/reliability.png", "plots/confusion.csv",
                "reports/evaluate/misclassified.csv", "plots/train_curves.csv", "metrics/compression.json"]:
        assert (project / out).exists(), out
    metrics = json.loads((project / "metrics/metrics.json").read_text())
    assert 0 <= metrics["accuracy"] <= 1 and set(metrics["per_class"]) == classes
    low, high = metrics["ci95"]["accuracy"]
    assert low <= metrics["accuracy"] <= high and metrics["baseline"]["model"] == "tfidf_logreg"
    assert metrics["temperature"] == json.loads((project / "models/finetuned/calibration.json").read_text())[
        "temperature"] > 0
    compressed = json.loads((project / "metrics/compression.json").read_text())["variants"]
    for r in compressed.values():  # every variant: its calibration, and its accuracy change on the same texts
        assert 0 <= r["ece"] <= 1 and r["delta_accuracy_ci95"][0] <= r["delta_accuracy"] <= r["delta_accuracy_ci95"][1]
    # the headline figures only: a table that fits a terminal
    shown = run(["dvc", "metrics", "show"], project).stdout
    assert max(len(line) for line in shown.splitlines()) <= 150, shown
    for column in ("accuracy", "macro_f1", "ece", "baseline_f1", "val_macro_f1", "train_s", "shipped", "latency_ms",
                   "acc_delta"):
        assert column in shown.splitlines()[0], column
    assert len(shown.splitlines()) == 4  # header + train, evaluate, compress

    run_id = json.loads((project / "models/mlflow_run.json").read_text())["run_id"]
    client = MlflowClient(f"sqlite:///{project}/mlflow.db")
    mlrun = client.get_run(run_id)
    assert mlrun.info.status == "FINISHED"
    assert mlrun.data.params["seed"] == "42"
    assert mlrun.data.tags["seed"] == "42" and len(mlrun.data.tags["git.commit"]) == 40
    assert "version.torch" in mlrun.data.tags and mlrun.data.tags["device"] == "cpu"
    for key in ("val/accuracy", "val/best_macro_f1", "test/accuracy", "test/macro_f1", "test/ece",
                "compress/torch_int8/accuracy", "compress/torch_int8/ece", "shipped/latency_p50_ms_b1",
                "data/clean/rows_kept", "test/accuracy_ci95_low", "baseline/macro_f1", "test/ece_uncalibrated"):
        assert key in mlrun.data.metrics, key
    assert mlrun.data.metrics["test/accuracy"] == pytest.approx(metrics["accuracy"])
    assert {"evaluate", "train", "compression", "dvc"} <= {a.path for a in client.list_artifacts(run_id)}
    check_run_identity(mlrun, project)
    return mlrun.data.params


def check_run_identity(mlrun, project) -> None:
    """A person recognises the run: its name, its markdown description, its datasets, its git state."""
    assert mlrun.info.run_name.startswith("rotten_tomatoes_corpus_full-") and mlrun.info.run_name.endswith(
        "-full-lr5e-05-s42"), mlrun.info.run_name
    note = mlrun.data.tags["mlflow.note.content"]
    sections = ["### Data", "### Recipe", "### Validation", "### Test", "### Shipped"]
    assert [note.index(s) for s in sections] == sorted(note.index(s) for s in sections), note
    assert "seed 42" in note and "macro-F1" in note and "ms p50" in note
    inputs = {d.tags[0].value: d.dataset for d in mlrun.inputs.dataset_inputs}
    assert set(inputs) == {"train", "validation", "test"}
    assert all(d.digest and "rotten_tomatoes_corpus_full" in d.source for d in inputs.values())
    assert len({d.digest for d in inputs.values()}) == 3 and inputs["train"].name == "rotten_tomatoes_corpus_full-train"
    # dvc.lock, params.yaml and metrics/ were rewritten by the pipeline, not by a person
    assert mlrun.data.tags["git.dirty"] == "false", mlrun.data.tags.get("git.dirty_files")
    assert any(key.startswith("system/cpu") for key in mlrun.data.metrics), sorted(mlrun.data.metrics)


def test_dvc_repro_end_to_end_reruns_exactly_what_changed_and_repeats_to_the_byte(tmp_path, project, tiny_model_dir):
    """The essential path on a tiny model (default suite): the whole DAG, the MLflow run, no-op and partial
    reruns, a code edit that reruns exactly the stages importing it; then a second copy, same seed, gives a
    byte-identical metrics/metrics.json."""
    import shutil

    second = tmp_path / "second"
    shutil.copytree(project, second)
    tiny = [*TINY_RUN, f"model.name_or_path={tiny_model_dir}", "train.epochs=2", "mlflow.log_model=false",
            "compress.variants=[fp32,torch_int8,onnx_int8]", "compress.latency.isolate=false",
            "mlflow.system_metrics=1"]
    run(["git", "add", "-A"], project)  # a person's commit: later edits by the pipeline must not make it dirty
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "project"], project)
    compose_params(project, *tiny)
    check_first_run(project, repro(project), {"fresh", "rotten"})

    assert ran_stages(repro(project)) == []                    # nothing changed: nothing runs
    with open(project / "ftpipe/training/loop.py", "a") as code:  # an edit to library code the stages import
        code.write("\n# an edit\n")
    assert git_state(project)["git.dirty_files"] == "ftpipe/training/loop.py"  # a person's edit is dirt
    status = run(["dvc", "status", "--json"], project).stdout
    assert set(json.loads(status)) == {"tokenize", "train", "evaluate", "compress"}  # its importers, no other
    (project / "ftpipe/training/loop.py").write_text((ROOT / "ftpipe/training/loop.py").read_text())
    assert json.loads(run(["dvc", "status", "--json"], project).stdout) == {}
    compose_params(project, *tiny, "evaluate.worst_examples=5")  # (calibration_bins: compress reads it too)
    assert ran_stages(repro(project)) == ["evaluate"]          # an evaluate-only param
    compose_params(project, *tiny)
    repro(project, "evaluate")

    compose_params(second, *tiny)
    repro(second, "evaluate")
    assert (second / "metrics/metrics.json").read_bytes() == (project / "metrics/metrics.json").read_bytes()
    tokenized = [{p.relative_to(copy): p.read_bytes() for p in (copy / "data/tokenized").rglob("*") if p.is_file()}
                 for copy in (project, second)]
    assert tokenized[0] == tokenized[1]  # the datasets folders too: DVC would otherwise see new data each run
    reports = [json.loads((copy / "metrics/train.json").read_text()) for copy in (project, second)]
    first, again = ({k: v for k, v in r.items() if k not in TIMING_KEYS} for r in reports)
    assert first == again


@pytest.mark.slow  # the packaged MiniLM through every stage: about 5 minutes on 2 cores
def test_dvc_repro_minilm_end_to_end(project):
    """The same path on the packaged MiniLM and its default recipe."""
    compose_params(project, *TINY_RUN)
    params = check_first_run(project, repro(project), {"fresh", "rotten"})
    assert params["train.lr"] == "5e-05"
    assert json.loads((project / "metrics/metrics.json").read_text())["accuracy"] >= 0.5
