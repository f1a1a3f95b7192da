"""The hostile-input corpus (docs/errors.md, classes a-j): each input is refused with one line naming the file,
row or key and what to do, leaving no output, or it is handled correctly and counted in metrics/clean.json.
Never exit 0 over a silently wrong result.
"""
from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import sys
import unicodedata
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from ftpipe import ROOT
from ftpipe.config.compose import compose_config, write_params
from ftpipe.config.params import load_params
from ftpipe.infra.errors import PipelineError
from tests.helpers.faults import inside
from tests.helpers.inputs import ROWS, assert_clean_fails, clean_files, csv_bytes, jsonl_bytes
from tests.helpers.project import run

TWO = [{"text": f"clear text number {i} about {'joy' if i % 2 else 'grief'}", "label": "pos" if i % 2 else "neg"}
       for i in range(60)]


def split_labels(ws: Path) -> set[str]:
    return set(json.loads((ws / "data/clean/labels.json").read_text())["names"])


def relabel(rows, mapping):
    """The rows with each label replaced by mapping(i, label)."""
    return [{"text": r["text"], "label": mapping(i, r["label"])} for i, r in enumerate(rows)]


# ---- a. label identity: one label however it is spelled -----------------------------------------------------------
HANDLED_LABELS = {
    "1 and 1.0 in one CSV column": (csv_bytes(relabel(TWO, lambda i, lab: ("1" if i % 3 else "1.0") if lab == "pos"
                                                      else "0")), "t.csv", {"0", "1"}, {"labels_normalised": 10}),
    "surrounding whitespace": (csv_bytes(relabel(TWO, lambda i, lab: f" {lab} " if i % 3 == 0 else lab)), "t.csv",
                               {"pos", "neg"}, {"labels_normalised": 20}),
    "01, +1 and 1e0 are 1": (csv_bytes(relabel(TWO, lambda i, lab: ["01", "+1", "1e0", "1"][i % 4] if lab == "pos"
                                               else "0")), "t.csv", {"0", "1"}, {}),
    "NFD and NFC spellings": (csv_bytes(relabel(TWO, lambda i, lab: unicodedata.normalize("NFD" if i % 3 else "NFC",
                                                                                          "café" if lab == "pos"
                                                                                          else "thé"))),
                              "t.csv", {"café", "thé"}, {}),
    "JSONL 2 and 2.0": (jsonl_bytes(relabel(TWO, lambda i, lab: (2 if i % 2 else 2.0) if lab == "pos" else 0)),
                        "t.jsonl", {"0", "2"}, {}),
    "JSONL int 1 and string '1'": (jsonl_bytes(relabel(TWO, lambda i, lab: (1 if i % 3 else "1") if lab == "pos"
                                                       else 0)), "t.jsonl", {"0", "1"}, {}),
    "JSONL booleans": (jsonl_bytes(relabel(TWO, lambda i, lab: lab == "pos")), "t.jsonl", {"true", "false"}, {}),
}


@pytest.mark.parametrize("case", HANDLED_LABELS)
def test_label_spellings_become_one_class(tmp_path, case):
    content, name, classes, counts = HANDLED_LABELS[case]
    report = clean_files(tmp_path, {name: content})
    assert split_labels(tmp_path) == classes and report["rows_kept"] == 60
    assert report["dropped_conflicting_labels"] == 0 if "dropped_conflicting_labels" in report else True
    for key, value in counts.items():
        assert report[key] == value, report


def test_missing_label_markers_are_dropped_and_counted_per_marker(tmp_path):
    markers = ["NaN", "null", "", "N/A", "None", "  "]
    rows = TWO + [{"text": f"an unlabelled review {i}", "label": m} for i, m in enumerate(markers)]
    report = clean_files(tmp_path, {"t.csv": csv_bytes(rows)})
    assert report["dropped_missing_label"] == 6 and report["rows_kept"] == 60
    assert report["missing_label_markers"] == {"(empty)": 2, "N/A": 1, "NaN": 1, "None": 1, "null": 1}


def test_missing_labels_can_be_kept_as_a_class(tmp_path):
    rows = relabel(TWO, lambda i, lab: "NA" if lab == "neg" else lab)  # "NA": North America, a real class here
    clean_files(tmp_path, {"t.csv": csv_bytes(rows)}, "data.missing_labels=[]")
    assert split_labels(tmp_path) == {"NA", "pos"}


def test_label_map_merges_spellings(tmp_path):
    rows = relabel(TWO, lambda i, lab: ("Pos" if i % 4 == 1 else "positive") if lab == "pos" else lab)
    report = clean_files(tmp_path, {"t.csv": csv_bytes(rows)}, "data.label_map={Pos: pos, positive: pos}")
    assert split_labels(tmp_path) == {"neg", "pos"} and report["rows_kept"] == 60


REFUSED_LABELS = {
    "labels differing only in case": (
        csv_bytes(relabel(TWO, lambda i, lab: "Pos" if lab == "pos" and i % 5 == 1 else lab)), "t.csv", [],
        ["labels 'pos' (", "'Pos' (", "differ only in case", "data.label_map: {'Pos': 'pos'}"]),
    "a label that is a JSON list": (jsonl_bytes(TWO[:5] + [{"text": "odd one", "label": ["pos"]}]), "t.jsonl", [],
                                    ["t.jsonl", "row 6: the label is a list", "data.label_column"]),
    "a drop_labels entry that never occurs": (csv_bytes(TWO), "t.csv", ["data.drop_labels=[plto]"],
                                             ["data.drop_labels: 'plto' never occurs", "'pos'"]),
    "a label_map key that never occurs": (csv_bytes(TWO), "t.csv", ["data.label_map={Poss: pos}"],
                                         ["data.label_map: 'Poss' never occurs"]),
}


@pytest.mark.parametrize("case", REFUSED_LABELS)
def test_ambiguous_labels_are_refused(tmp_path, case):
    content, name, overrides, expected = REFUSED_LABELS[case]
    assert_clean_fails(tmp_path, {name: content}, expected, *overrides)


# ---- b. config types: one schema, strict, for a params.yaml however it was composed -------------------------------
def write_raw_params(ws: Path, edit) -> Path:
    path = ws / "params.yaml"
    write_params(compose_config(), path)
    path.write_text(edit(path.read_text()))
    return path


CONFIG_REFUSED = {
    "the string 'no' for a boolean": (["train.freeze_embeddings=no"],
                                      "train.freeze_embeddings: expected true or false (unquoted), got the string"),
    "a quoted 'false' for a boolean": (["train.gradual_unfreezing='false'"],
                                       "train.gradual_unfreezing: expected true or false"),
    "a scalar where a list belongs": (["data.drop_labels=plot"], "data.drop_labels: expected a list like [a, b]"),
    "a key added with +": (["+train.lrr=0.1"], "train.lrr: unknown key; did you mean train.lr?"),
    "a string seed": (["seed=seven"], "seed: expected an integer, got the string 'seven'"),
    "an unknown encoding": (["data.encoding=utf-9"], "data.encoding: unknown encoding 'utf-9'"),
    "a fractional epoch count": (["train.epochs=2.5"], "train.epochs: expected an integer, got the number 2.5"),
    "a quoted number": (["train.lr='1e-4'"], "train.lr: expected a number, got the string '1e-4'"),
    "an unknown compression variant": (["compress.variants=[fp32,int4]"], "compress.variants[1]: unknown value 'int4'"),
    "a misspelt augmenter": (["augment.augmenters=[synonim]"], "augment.augmenters[0]: unknown augmenter 'synonim'"),
    "a zero validation share": (["data.split.validation=0"], "data.split.validation: must be a number > 0 and < 1"),
    "a quoted max_length": (["model.max_length='128'"], "model.max_length: expected an integer, got the string"),
    "freezing with LoRA": (["train/method=lora", "train.freeze_layers=2"], "train.freeze_layers: only for"),
    "an unknown loss": (["train.loss=hinge"],
                        "train.loss: unknown value 'hinge'; use one of cross_entropy, focal, label_smoothing"),
    "a negative focal gamma": (["train.focal_gamma=-1"], "train.focal_gamma: must be a number >= 0, got -1"),
}


@pytest.mark.parametrize("case", CONFIG_REFUSED)
def test_config_values_of_the_wrong_type_are_refused_by_every_stage(tmp_path, case):
    overrides, expected = CONFIG_REFUSED[case]
    write_params(compose_config(overrides), tmp_path / "params.yaml")
    with pytest.raises(PipelineError) as raised:
        load_params(tmp_path / "params.yaml")
    assert expected in str(raised.value) and "\n" not in str(raised.value), str(raised.value)


def test_a_hand_edited_typo_key_is_refused_with_the_closest_key(tmp_path):
    path = write_raw_params(tmp_path, lambda text: text.replace("  batch_size: 32", "  batchsize: 32"))
    with pytest.raises(PipelineError, match=r"^train\.batchsize: unknown key; did you mean train\.batch_size\?"):
        load_params(path)


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    path = write_raw_params(tmp_path, lambda text: text.replace("  epochs: 2", "  epochs: [2", 1))
    with pytest.raises(PipelineError, match=r"params\.yaml: not valid YAML: line \d+, column \d+"):
        load_params(path)


@pytest.mark.parametrize("args, expected", [
    (["data=nosuch"], "data=nosuch: no such option in conf/data/ (options: chinese_reviews, custom"),
    (["train.lrr=1"], "train.lrr: no such key in conf/; did you mean train.lr?"),
    (["data.path=/my", "data/reviews.csv"], "override 'data/reviews.csv' is not key=value"),
])
def test_composition_errors_are_one_line(tmp_path, args, expected):
    result = run([sys.executable, "-m", "ftpipe.config.compose", *args], tmp_path, check=False, PYTHONPATH=str(ROOT))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert not (tmp_path / "params.yaml").exists()


# ---- d. text: real markup only; a non-string is never its Python repr -------------------------------------------
def test_angle_brackets_in_prose_survive_and_real_tags_go(tmp_path):
    prose = ["battery life < 2 hours, screen > 5 inches", "a<b and c>d holds", "I <b>loved</b> it<br/> &amp; more",
             "AT&T service, 5 > 3", "<!-- hidden --> seen"]
    rows = TWO + [{"text": t, "label": "pos"} for t in prose]
    clean_files(tmp_path, {"t.csv": csv_bytes(rows)})
    splits = ("train", "validation", "test")
    texts = {t for s in splits for t in pd.read_parquet(tmp_path / f"data/clean/{s}.parquet").text}
    assert {"battery life < 2 hours, screen > 5 inches", "a<b and c>d holds", "I loved it & more",
            "AT&T service, 5 > 3", "seen"} <= texts


def test_numbers_and_booleans_as_text_are_dropped_and_counted(tmp_path):
    rows = TWO + [{"text": 12345, "label": "pos"}, {"text": True, "label": "neg"}, {"text": 3.5, "label": "pos"}]
    report = clean_files(tmp_path, {"t.jsonl": jsonl_bytes(rows)})
    assert report["dropped_text_not_string"] == 3 and report["rows_kept"] == 60


@pytest.mark.parametrize("value, kind", [({"body": "nested"}, "mapping"), (["a", "list"], "list")])
def test_a_container_as_text_is_refused_with_its_row(tmp_path, value, kind):
    rows = TWO[:4] + [{"text": value, "label": "pos"}]
    assert_clean_fails(tmp_path, {"t.jsonl": jsonl_bytes(rows)}, ["t.jsonl: row 5", f"holds a {kind}",
                                                                  "data.text_column"])


def test_a_numeric_text_column_drops_every_row_and_says_why(tmp_path):
    rows = [{"text": i, "label": "pos" if i % 2 else "neg"} for i in range(20)]
    assert_clean_fails(tmp_path, {"t.parquet": _parquet(rows)}, ["every row was dropped", "'text_not_string': 20"])


def _parquet(rows) -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame(rows).to_parquet(buffer, index=False)
    return buffer.getvalue()


# ---- e. encodings and containers --------------------------------------------------------------------------------
ACCENTED = [{"text": f"un café très réussi numéro {i}", "label": "pos" if i % 2 else "neg"} for i in range(60)]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


HANDLED_FILES = {
    "gzip named .csv": ("t.csv", gzip.compress(csv_bytes())),
    "bz2 named .csv": ("t.csv", bz2.compress(csv_bytes())),
    "gzip named .csv.gz": ("t.csv.gz", gzip.compress(csv_bytes())),
    "zip of one CSV": ("t.csv.zip", _zip({"reviews.csv": csv_bytes()})),
    "Parquet named .csv": ("t.csv", _parquet(ROWS)),
    "gzip JSONL": ("t.jsonl", gzip.compress(jsonl_bytes(ROWS))),
}


@pytest.mark.parametrize("case", HANDLED_FILES)
def test_compression_and_containers_are_recognised_by_content(tmp_path, case):
    name, content = HANDLED_FILES[case]
    assert clean_files(tmp_path, {name: content})["rows_kept"] == 60


REFUSED_FILES = {
    "UTF-8 declared as latin-1": ({"t.csv": csv_bytes(ACCENTED)}, ["data.encoding=latin-1"],
                                  ["the file is UTF-8 but data.encoding is 'latin-1'", "set data.encoding=utf-8"]),
    "cp1252 read as UTF-8": ({"t.csv": pd.DataFrame(ACCENTED).to_csv(index=False).encode("cp1252")}, [],
                             ["not valid utf-8 at byte", "data.encoding"]),
    "UTF-16 with a BOM": ({"t.csv": pd.DataFrame(ACCENTED).to_csv(index=False).encode("utf-16")}, [],
                          ["the file is UTF-16", "data.encoding=utf-16"]),
    "mojibake saved as UTF-8": ({"t.csv": csv_bytes([{"text": r["text"].encode().decode("cp1252"), "label": r["label"]}
                                                     for r in ACCENTED])}, [],
                                ["carry mojibake such as 'Ã©'", "ftfy"]),
    "zip of several files": ({"t.zip": _zip({"a.csv": csv_bytes(), "b.csv": csv_bytes()})}, [],
                             ["a zip archive of 2 files (a.csv, b.csv)", "unzip it"]),
    "an Excel workbook": ({"t.xlsx": _zip({"[Content_Types].xml": b"<x/>", "xl/workbook.xml": b"<x/>"})}, [],
                          ["an Excel workbook (.xlsx)", "save the sheet as CSV"]),
    "an Excel 97 workbook": ({"t.xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100}, [],
                             ["an Excel 97-2003 workbook (.xls)"]),
    "an empty gzip": ({"t.csv.gz": gzip.compress(b"")}, [], ["the file is empty once decompressed"]),
    "a truncated gzip": ({"t.csv.gz": gzip.compress(csv_bytes())[:40]}, [], ["cannot be decompressed", "damaged"]),
    "CSV named .parquet": ({"t.parquet": csv_bytes()}, [], ["named Parquet but its content is not"]),
    "JSON under an unknown extension": ({"t.dat": jsonl_bytes(ROWS)}, [], ["set data.format=jsonl"]),
}


@pytest.mark.parametrize("case", REFUSED_FILES)
def test_garbling_encodings_and_unreadable_containers_are_refused(tmp_path, case):
    files, overrides, expected = REFUSED_FILES[case]
    assert_clean_fails(tmp_path, files, expected, *overrides)


def _clean_path(ws: Path, path: str) -> PipelineError:
    write_params(compose_config(["data=custom", f"data.path={path}"]), ws / "params.yaml")
    with inside(ws), pytest.raises(PipelineError) as raised:
        from stages import clean
        clean.main()
    assert "\n" not in str(raised.value)
    return raised.value


def test_a_folder_as_data_path_is_reported_as_a_folder(tmp_path):
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/a.csv").write_bytes(csv_bytes())
    (tmp_path / "data/raw/b.jsonl").write_bytes(jsonl_bytes(ROWS))
    assert "a folder, not a file (it holds a.csv, b.jsonl); point data.path at one file" in \
        str(_clean_path(tmp_path, "data/raw"))


def test_a_symlink_loop_is_reported_as_one(tmp_path):
    os.symlink(tmp_path / "loop_b.csv", tmp_path / "loop_a.csv")
    os.symlink(tmp_path / "loop_a.csv", tmp_path / "loop_b.csv")
    assert "a loop of symbolic links" in str(_clean_path(tmp_path, str(tmp_path / "loop_a.csv")))


def test_a_broken_symlink_names_its_target(tmp_path):
    os.symlink(tmp_path / "gone.csv", tmp_path / "link.csv")
    assert f"a symbolic link to {tmp_path / 'gone.csv'}, which does not exist" in \
        str(_clean_path(tmp_path, str(tmp_path / "link.csv")))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file: permissions cannot be tested as root")
def test_an_unreadable_file_says_permission_denied(tmp_path):
    (tmp_path / "t.csv").write_bytes(csv_bytes())
    (tmp_path / "t.csv").chmod(0)
    assert "cannot be read (permission denied)" in str(_clean_path(tmp_path, str(tmp_path / "t.csv")))
