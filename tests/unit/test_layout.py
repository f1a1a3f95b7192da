"""The code's layout: stages/ holds the six stage modules, short; ftpipe/ is one documented folder per role with
unique module names and no import cycles."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ftpipe import ROOT
from ftpipe.infra.codedeps import PACKAGES, imported_names, module_file, module_name

STAGE_MODULES = {"__init__.py", "clean.py", "augment.py", "tokenize.py", "train.py", "evaluate.py", "compress.py"}
MAX_STAGE_FUNCTION, MAX_TRAIN_MAIN = 60, 50
# Hydra finds plugins in the `hydra_plugins` namespace package, which an __init__.py would turn into a regular
# package hiding every installed launcher's plugins; DVC imports it from .dvc/config's hydra.plugins_path
NAMESPACE_PACKAGES = {ROOT / "ftpipe/config/hydra_plugins"}


def source_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def function_lengths(path: Path) -> dict[str, int]:
    """Each function's length in lines (end_lineno - lineno + 1), by qualified name."""
    lengths = {}

    def visit(node, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    lengths[name] = child.end_lineno - child.lineno + 1
                visit(child, name + ".")

    visit(ast.parse(path.read_text(), str(path)), "")
    return lengths


def test_stages_holds_only_the_six_stage_modules():
    assert {p.relative_to(ROOT / "stages").as_posix() for p in source_files(ROOT / "stages")} == STAGE_MODULES


def test_stage_functions_are_short():
    too_long = {f"{path.name}:{name}": n for path in sorted((ROOT / "stages").glob("*.py"))
                for name, n in function_lengths(path).items() if n > MAX_STAGE_FUNCTION}
    assert too_long == {}, f"stage functions over {MAX_STAGE_FUNCTION} lines: move the work into ftpipe/"
    train_main = function_lengths(ROOT / "stages/train.py")["main"]
    assert train_main <= MAX_TRAIN_MAIN, f"stages/train.py:main is {train_main} lines (at most {MAX_TRAIN_MAIN})"


def test_function_lengths_count_from_def_to_last_line(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("@decorator\ndef f():\n    x = 1\n\n    return x\n\n\nclass C:\n    def g(self):\n        pass\n")
    assert function_lengths(path) == {"f": 4, "C.g": 2}


def package_folders() -> list[Path]:
    return sorted({p.parent for p in (ROOT / "ftpipe").rglob("*.py") if "__pycache__" not in p.parts})


@pytest.mark.parametrize("folder", package_folders(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_ftpipe_folder_is_a_package_whose_docstring_says_its_purpose(folder):
    init = folder / "__init__.py"
    if folder in NAMESPACE_PACKAGES:
        assert not init.exists(), f"{folder.relative_to(ROOT)} must stay a namespace package for Hydra"
        return
    assert init.is_file(), f"{folder.relative_to(ROOT)} has no __init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text()), clean=True)
    assert doc, f"{init.relative_to(ROOT)} has no docstring"
    first = doc.splitlines()[0].strip()
    assert len(first.split()) >= 4 and first.endswith((".", ":")), \
        f"{init.relative_to(ROOT)}: the docstring's first line should state the folder's purpose: {first!r}"


def test_no_two_ftpipe_modules_share_a_file_name():
    seen: dict[str, list[str]] = {}
    for path in (ROOT / "ftpipe").rglob("*.py"):
        if path.name != "__init__.py" and "__pycache__" not in path.parts:
            seen.setdefault(path.name, []).append(path.relative_to(ROOT).as_posix())
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}


# ---- import cycles --------------------------------------------------------------------------------------------
def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> project modules it imports (anywhere in the file, function-level imports too), by name.

    `from pkg import module` names both `pkg` and `pkg.module`: the edge goes to the module, not to the package's
    __init__ (importing a module runs its package's __init__ first, which is no cycle of its own). A package is an
    edge only when something is taken from its __init__ itself.
    """
    files = [p for package in PACKAGES for p in (root / package).rglob("*.py") if "__pycache__" not in p.parts]
    graph = {}
    for path in files:
        me = module_name(path, root)
        targets = set()
        names = imported_names(path, root)
        for name in names:
            target = resolve(name, root)
            if target is None or target == me:
                continue
            if module_file(target, root).name == "__init__.py" and any(
                    other.startswith(target + ".") and resolve(other, root) not in (None, target) for other in names):
                continue  # `from pkg import module`: the module is the edge
            targets.add(target)
        graph[me] = targets
    return graph


def resolve(name: str, root: Path) -> str | None:
    """The longest prefix of `name` that is a project module or package (`pkg.module.attr` -> `pkg.module`)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        if module_file(".".join(parts[:i]), root) is not None:
            return ".".join(parts[:i])
    return None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles_between_project_modules():
    cycle = find_cycle(import_graph(ROOT))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_sees_a_function_level_import_and_ignores_package_inits(tmp_path):
    files = {"ftpipe/__init__.py": "", "stages/__init__.py": "",
             "ftpipe/pkg/__init__.py": "from ftpipe.pkg.a import f\n",  # a re-export
             "ftpipe/pkg/a.py": "from ftpipe.pkg import b\n\ndef f():\n    return b\n",
             "ftpipe/pkg/b.py": "def g():\n    from ftpipe.other import h\n    return h\n",
             "ftpipe/other.py": "def h():\n    return 1\n"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path)
    assert graph["ftpipe.pkg.a"] == {"ftpipe.pkg.b"} and graph["ftpipe.pkg.b"] == {"ftpipe.other"}
    assert find_cycle(graph) is None
    (tmp_path / "ftpipe/other.py").write_text("def h():\n    import ftpipe.pkg.a\n    return ftpipe.pkg.a\n")
    assert find_cycle(import_graph(tmp_path)) == ["ftpipe.other", "ftpipe.pkg.a", "ftpipe.pkg.b", "ftpipe.other"]
