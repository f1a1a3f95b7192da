"""Hostile inputs past clean (docs/errors.md, classes c, f, g, j): a tokenizer that is not the model's, stages run
by hand over another run's outputs, outputs published as a set, and checkpoint files nobody should trust."""
from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from ftpipe.config.compose import compose_config, write_params
from ftpipe.infra.errors import PipelineError
from ftpipe.training import checkpoints
from tests.helpers.faults import inside
from tests.helpers.inputs import clean_files, csv_bytes
from tests.helpers.models import minilm_tokenizer, tiny_bert


def stage(ws: Path, name: str, *overrides: str, model: Path | None = None) -> None:
    """Run stage `name` in-process in `ws` with params composed for data/raw/t.csv and `model`."""
    base = ["data=custom", "data.path=data/raw/t.csv", "mlflow.log_model=false", "train.epochs=1",
            "train.batch_size=8", "train.num_threads=1", *([f"model.name_or_path={model}"] if model else [])]
    write_params(compose_config([*base, *overrides]), ws / "params.yaml")
    with inside(ws):
        module = __import__(f"stages.{name}", fromlist=["main"])
        module.main()


ROWS = [{"text": f"review {i}: a {['wonderful', 'dreadful'][i % 2]} film, number {i}", "label": ["pos", "neg"][i % 2]}
        for i in range(80)]


@pytest.fixture
def cleaned(tmp_path) -> Path:
    clean_files(tmp_path, {"t.csv": csv_bytes(ROWS)})
    return tmp_path


# ---- c. tokenizer sanity --------------------------------------------------------------------------------------------
def test_a_model_folder_without_tokenizer_files_is_refused(cleaned, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bare-model")
    tiny_bert(minilm_tokenizer()).save_pretrained(folder)  # what model.save_pretrained() alone leaves
    stage(cleaned, "augment")
    with pytest.raises(PipelineError, match=rf"model.name_or_path: {folder} holds no tokenizer files"):
        stage(cleaned, "tokenize", model=folder)
    assert not (cleaned / "data/tokenized").exists()


def test_a_tokenizer_of_another_vocabulary_is_refused(cleaned, tmp_path_factory, tiny_model_dir):
    folder = tmp_path_factory.mktemp("mismatch")
    shutil.copytree(tiny_model_dir, folder, dirs_exist_ok=True)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "vocab_size": 90000}))
    stage(cleaned, "augment")
    with pytest.raises(PipelineError, match=r"tokenizer has 30522 tokens but the model's embeddings have 90000"):
        stage(cleaned, "tokenize", model=folder)


def test_text_the_tokenizer_cannot_read_is_refused_and_the_share_is_recorded(tmp_path, tiny_model_dir):
    script = "ꦧꦱꦗꦮ ꦲꦏ꧀ꦱꦫ"  # Javanese: not in the MiniLM vocabulary, every word becomes [UNK]
    rows = [{"text": f"{script} {i}", "label": ["a", "b"][i % 2]} for i in range(80)]
    clean_files(tmp_path, {"t.csv": csv_bytes(rows)})
    stage(tmp_path, "augment")
    with pytest.raises(PipelineError, match=r"model.max_unk_share: \d+\.\d% of the train split's tokens are the "
                                            r"unknown token"):
        stage(tmp_path, "tokenize", model=tiny_model_dir)
    stage(tmp_path, "tokenize", "model.max_unk_share=1.0", model=tiny_model_dir)  # accepted when asked
    report = json.loads((tmp_path / "metrics/tokenize.json").read_text())
    assert report["train"]["unk_share"] > 0.5


# ---- f. stale upstream: a stage never mixes the outputs of two runs ----------------------------------------------
def test_tokenize_after_a_new_clean_with_augment_stale_is_refused(cleaned, tiny_model_dir):
    stage(cleaned, "augment")
    (cleaned / "data/raw/t.csv").write_bytes(csv_bytes(ROWS + [{"text": "one more fine film", "label": "pos"}]))
    stage(cleaned, "clean")
    with pytest.raises(PipelineError, match=r"data/augmented: was made by augment from another data/clean .* rerun "
                                            r"augment first"):
        stage(cleaned, "tokenize", model=tiny_model_dir)


def test_augment_over_a_clean_whose_source_changed_is_refused(cleaned):
    (cleaned / "data/raw/t.csv").write_bytes(csv_bytes(ROWS[:70]))  # edited after clean ran
    with pytest.raises(PipelineError, match=r"data/clean: was made by clean from another data/raw/t.csv .* rerun "
                                            r"clean first"):
        stage(cleaned, "augment")


def test_evaluate_with_a_model_of_other_tokens_is_refused(cleaned, tiny_model_dir):
    stage(cleaned, "augment")
    stage(cleaned, "tokenize", model=tiny_model_dir)
    stage(cleaned, "train", model=tiny_model_dir)
    stage(cleaned, "tokenize", "model.max_length=8", model=tiny_model_dir)  # truncated: new tokens, old model
    with pytest.raises(PipelineError, match=r"models/finetuned: was made by train from another data/tokenized"):
        stage(cleaned, "evaluate", model=tiny_model_dir)


# ---- tokenized splits: datasets folders, the same bytes for the same input; a damaged one is one line ----------
def test_tokenize_saves_each_split_as_a_dataset_with_the_same_bytes_each_run(cleaned, tiny_model_dir):
    import datasets
    import pandas as pd
    from transformers import AutoTokenizer

    stage(cleaned, "augment")
    stage(cleaned, "tokenize", model=tiny_model_dir)
    folder = cleaned / "data/tokenized"
    first = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    for split, source in (("train", "data/augmented"), ("validation", "data/clean"), ("test", "data/clean")):
        texts = pd.read_parquet(cleaned / source / f"{split}.parquet")
        dataset = datasets.load_from_disk(str(folder / split))
        assert dataset.column_names == ["input_ids", "label", "length"] and len(dataset) == len(texts) > 0
        assert dataset["label"][:] == texts["label"].tolist()
        assert dataset[0]["input_ids"] == tokenizer(texts["text"][0])["input_ids"]
        assert dataset["length"][:] == [len(x) for x in dataset["input_ids"]]
    stage(cleaned, "tokenize", model=tiny_model_dir)  # same input: DVC must see the same folder
    assert {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == first


def test_train_on_a_damaged_tokenized_split_names_it_and_the_fix(cleaned, tiny_model_dir):
    stage(cleaned, "augment")
    stage(cleaned, "tokenize", model=tiny_model_dir)
    arrow = cleaned / "data/tokenized/validation/data-00000-of-00001.arrow"
    arrow.write_bytes(arrow.read_bytes()[:200])  # a copy cut short
    with pytest.raises(PipelineError, match=r"^data/tokenized/validation: not a tokenized split saved by tokenize "
                                            r"\(ArrowInvalid: .*\); rerun `dvc repro tokenize`"):
        stage(cleaned, "train", model=tiny_model_dir)
    assert not (cleaned / "models/finetuned").exists()


# ---- g. a stage's outputs are published as a set --------------------------------------------------------------------
def test_a_failure_while_writing_the_report_keeps_the_old_splits(cleaned, monkeypatch):
    before = {p.name: p.read_bytes() for p in (cleaned / "data/clean").iterdir()}
    report = (cleaned / "metrics/clean.json").read_bytes()
    (cleaned / "data/raw/t.csv").write_bytes(csv_bytes(ROWS[:70]))
    import stages.clean

    def failing(path, obj):
        raise OSError(f"{path}: no space left on device")
    monkeypatch.setattr(stages.clean, "write_json", failing)
    with pytest.raises(OSError):
        stage(cleaned, "clean")
    assert {p.name: p.read_bytes() for p in (cleaned / "data/clean").iterdir()} == before
    assert (cleaned / "metrics/clean.json").read_bytes() == report
    assert not [p for p in (cleaned / "data").iterdir() if p.name.startswith(".tmp-")]


# ---- j. checkpoint files are data, never code -----------------------------------------------------------------
class Payload:
    """Unpickling this runs code: it would create the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_holding_pickled_code_is_not_run(tmp_path):
    marker = tmp_path / "pwned"
    step = tmp_path / "checkpoints/step-00000010"
    step.mkdir(parents=True)
    torch.save({"fingerprint": "fp", "loop": {}, "payload": Payload(marker)}, step / checkpoints.STATE_FILE,
               pickle_protocol=pickle.HIGHEST_PROTOCOL)
    assert checkpoints.latest(tmp_path / "checkpoints", "fp") is None
    assert not marker.exists()


def test_clean_writes_nothing_when_refusing(tmp_path):
    """The stage command itself: exit 2, one line, no traceback, no output (a hostile label)."""
    import subprocess
    import sys

    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/t.csv").write_bytes(csv_bytes(
        [dict(r, label=r["label"].upper() if i % 7 == 0 else r["label"]) for i, r in enumerate(ROWS)]))
    write_params(compose_config(["data=custom", "data.path=data/raw/t.csv"]), tmp_path / "params.yaml")
    done = subprocess.run([sys.executable, "-m", "stages.clean"], cwd=tmp_path, capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().startswith("error: data/raw/t.csv: labels") and "differ only in case" in done.stderr
    assert not (tmp_path / "data/clean").exists() and not (tmp_path / "metrics").exists()
