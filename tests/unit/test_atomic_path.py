"""atomic_path: a failing block keeps the old output and leaves no temp; a directory is swapped whole."""
from __future__ import annotations

import pytest

from ftpipe.infra.io import atomic_path


def test_a_failing_block_keeps_the_old_output_and_no_temp(tmp_path):
    dest = tmp_path / "out"
    with atomic_path(dest, is_dir=True) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_path(dest, is_dir=True) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("died mid-write")
    assert (dest / "a.txt").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with atomic_path(dest, is_dir=True) as tmp:  # replacing a directory swaps it whole, nothing left over
        (tmp / "b.txt").write_text("new")
    assert [p.name for p in dest.iterdir()] == ["b.txt"] and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
