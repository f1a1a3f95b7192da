"""The clean command on user files in a project copy: every format, given splits, and one-line errors on bad
input with no output left behind."""
from __future__ import annotations

import pandas as pd
import pytest

from tests.helpers.data import sentiment_rows
from tests.helpers.project import run_clean


@pytest.mark.parametrize("case, content, expected", [
    ("missing.csv", None, "file not found"),
    ("nolabel.csv", b"text,lable\nhello there,pos\nbye now,neg\n",
     "no column 'label' (data.label_column); did you mean 'lable'"),
    ("empty.csv", b"", "the file is empty"),
    ("oneclass.csv", b"text,label\n" + b"".join(b"text number %d,pos\n" % i for i in range(9)), "only one class"),
    ("latin1.csv", "text,label\ncaf\u00e9 ok,pos\nbad,neg\n".encode("latin-1"), "not valid utf-8 at byte"),
])
def test_bad_input_is_one_line_error_and_no_output(project, write_table, case, content, expected):
    path = project / "data" / "raw" / case
    if content is not None:
        path.write_bytes(content)
    result = run_clean(project, path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and expected in lines[-1], result.stderr
    assert "Traceback" not in result.stderr
    if case != "missing.csv":
        assert str(path) in lines[-1]
    assert not (project / "data" / "clean").exists() and not (project / "metrics" / "clean.json").exists()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_user_files_in_every_format_with_integer_labels(project, write_table, fmt):
    rows = [{"body": r["text"], "stars": {"pos": 5, "neg": 1, "neu": 3}[r["label"]]}
            for r in sentiment_rows(20, ("pos", "neg", "neu"))]
    path = write_table(f"reviews.{fmt}", rows)
    run_clean(project, path, "data.text_column=body", "data.label_column=stars")
    labels = (project / "data/clean/labels.json").read_text()
    assert '"1"' in labels and '"3"' in labels and '"5"' in labels
    train = pd.read_parquet(project / "data/clean/train.parquet")
    assert list(train.columns) == ["text", "label", "source_row"] and train["label"].between(0, 2).all()


def test_given_splits_that_overlap_are_refused(project, write_table):
    rows = sentiment_rows(20)
    train, val, test = write_table("t.csv", rows), write_table("v.csv", rows[:4]), write_table("s.csv", rows[4:8])
    result = run_clean(project, train, f"data.validation_path={val}", f"data.test_path={test}")
    assert result.returncode != 0 and "also appears in the validation split" in result.stderr
    result = run_clean(project, train, f"data.validation_path={val}", f"data.test_path={test}",
                       "data.on_split_overlap=drop_from_train")
    assert result.returncode == 0, result.stderr
    assert len(pd.read_parquet(project / "data/clean/train.parquet")) == len(rows) - 8
