"""Outputs published as a set (infra.publish) and the lineage records that keep stages from mixing runs."""
from __future__ import annotations

import json
import os

import pytest

from ftpipe.infra import lineage
from ftpipe.infra.errors import PipelineError
from ftpipe.infra.publish import JOURNAL, finish_interrupted, publish, write_journal


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out/old.txt").write_text("old folder")
    (tmp_path / "report.json").write_text("old report")
    return tmp_path


def test_outputs_appear_together(workspace):
    with publish() as out:
        (out.dir("out") / "new.txt").write_text("new folder")
        out.file("report.json").write_text("new report")
        assert (workspace / "report.json").read_text() == "old report"  # nothing moves before the block ends
    assert [p.name for p in (workspace / "out").iterdir()] == ["new.txt"]
    assert (workspace / "report.json").read_text() == "new report"
    assert not JOURNAL.exists() and not [p for p in workspace.iterdir() if p.name.startswith(".tmp-")]


def test_a_failure_inside_the_block_changes_nothing(workspace):
    with pytest.raises(RuntimeError), publish() as out:
        (out.dir("out") / "new.txt").write_text("new folder")
        raise RuntimeError("the report failed")
    assert (workspace / "out/old.txt").read_text() == "old folder"
    assert not [p for p in workspace.iterdir() if p.name.startswith(".tmp-")]


def test_moves_a_killed_stage_left_halfway_are_completed(workspace):
    folder, file = workspace / ".tmp-out-1", workspace / ".tmp-report-1"
    folder.mkdir()
    (folder / "new.txt").write_text("new folder")
    file.write_text("new report")
    write_journal([(folder, workspace / "out"), (file, workspace / "report.json")])
    os.replace(folder, workspace / "out.moved")  # as if killed after the first move...
    os.replace(workspace / "out", workspace / ".old-out-9")
    os.replace(workspace / "out.moved", workspace / "out")
    finish_interrupted()  # ...the next stage completes the second
    assert (workspace / "out/new.txt").exists() and (workspace / "report.json").read_text() == "new report"
    assert not JOURNAL.exists()


def test_a_declared_output_never_written_is_an_error_and_nothing_moves(workspace):
    with pytest.raises(FileNotFoundError, match="report.json: the stage declared it"), publish() as out:
        (out.dir("out") / "new.txt").write_text("new folder")
        out.file("report.json")
    assert (workspace / "out/old.txt").exists()


def test_lineage_names_the_stage_to_rerun(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("source", "made"):
        (tmp_path / name).mkdir()
    (tmp_path / "source/a.txt").write_text("one")
    lineage.record(tmp_path / "made", "maker", [tmp_path.joinpath("source").relative_to(tmp_path)])
    lineage.check([tmp_path.joinpath("made").relative_to(tmp_path)])  # consistent
    assert json.loads((tmp_path / "made/lineage.json").read_text())["stage"] == "maker"
    (tmp_path / "source/a.txt").write_text("two")
    with pytest.raises(PipelineError, match=r"^made: was made by maker from another source .* rerun maker first"):
        lineage.check([tmp_path.joinpath("made").relative_to(tmp_path)])
