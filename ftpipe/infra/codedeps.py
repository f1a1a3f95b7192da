"""Which files are a stage's code: dvc.yaml's deps say it, the imports prove it.

dvc.yaml is the one list. `stage_code(stage)` gives the Python files under a stage's code deps, which is what
train's checkpoint fingerprint hashes, so "train's code" means the same thing to DVC and to a resumed run.
`import_closure(module)` follows the project's imports with `ast` (imports inside functions included, and
module names or sibling `.py` files named in strings, as for `python -m ...` or a file copied at run time),
so a test can check that each stage's deps cover everything it really runs.

    python -m ftpipe.infra.codedeps [STAGE ...]    # each stage's files, and any its deps miss
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import yaml

from ftpipe import ROOT
from ftpipe.infra.errors import PipelineError

PACKAGES = ("stages", "ftpipe")
MODULE_NAME = re.compile(r"^(?:stages|ftpipe)(?:\.\w+)+$")
SIBLING_FILE = re.compile(r"^\w+\.py$")


def stage_deps(stage: str, root: Path = ROOT) -> list[str]:
    """The stage's deps as written in dvc.yaml (templated entries such as `${...}` left out)."""
    pipeline = root / "dvc.yaml"
    if not pipeline.is_file():  # a copy of the code without its DAG: the code deps cannot be known
        raise PipelineError(f"{pipeline}: not found beside the code; a stage's code is what dvc.yaml lists, so "
                            f"copy dvc.yaml with stages/ and ftpipe/")
    stages = yaml.safe_load(pipeline.read_text())["stages"]
    return [d for d in stages[stage].get("deps", []) if "${" not in d]


def stage_code(stage: str, root: Path = ROOT) -> list[Path]:
    """Every Python file under the stage's code deps (those inside the project's packages), sorted."""
    files: set[Path] = set()
    for dep in stage_deps(stage, root):
        path = root / dep
        if dep.split("/")[0] not in PACKAGES:
            continue
        files.update(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return sorted(files)


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The file of a project module or package, or None when `name` is not one."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, root: Path = ROOT) -> set[str]:
    """Project modules `path` refers to: its imports anywhere in the file, and module names in its strings."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path, root) if path.name == "__init__.py" else module_name(path, root).rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if MODULE_NAME.match(node.value):
                names.add(node.value)
            elif SIBLING_FILE.match(node.value) and (path.parent / node.value).is_file():
                names.add(module_name(path.parent / node.value, root))
    return {n for n in names if n.split(".")[0] in PACKAGES}


def import_closure(module: str, root: Path = ROOT) -> set[Path]:
    """Every project file that running `module` may execute: its imports, transitively, and their packages'
    `__init__.py` files (Python runs those first)."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # the module and every package above it
            path = module_file(".".join(parts[:i]), root)
            if path is not None and path not in seen:
                seen.add(path)
                todo.extend(imported_names(path, root))
    return seen


def covered(path: Path, deps: list[str], root: Path = ROOT) -> bool:
    rel = path.relative_to(root).as_posix()
    return any(rel == dep or rel.startswith(dep.rstrip("/") + "/") for dep in deps)


def missing_deps(stage: str, root: Path = ROOT) -> list[str]:
    """Files the stage imports that its dvc.yaml deps do not cover (an edit there would not rerun it)."""
    deps = stage_deps(stage, root)
    closure = import_closure(f"stages.{stage}", root)
    return sorted(p.relative_to(root).as_posix() for p in closure if not covered(p, deps, root))


def main(argv: list[str]) -> int:
    stages = argv or list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
    status = 0
    for stage in stages:
        closure = sorted(p.relative_to(ROOT).as_posix() for p in import_closure(f"stages.{stage}"))
        missing = missing_deps(stage)
        print(f"{stage}: imports {len(closure)} project files; deps miss {len(missing)}"
              + (f": {', '.join(missing)}" if missing else ""))
        status |= bool(missing)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
