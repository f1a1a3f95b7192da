"""The project's OmegaConf resolvers, registered on import: by ftpipe.config.compose, and by DVC, which imports
Hydra plugins from this folder before it composes params.yaml (`hydra.plugins_path` in .dvc/config).

`${ftpipe.dvc_dep:SPEC}` turns a data spec into the path DVC hashes for it (conf/config.yaml, data.dvc_deps):
a file anywhere is itself (absolute when it lies outside the repository); an unset split path, or a file
inside a package (`pkg://name@version/...`, whose version is a param), is `data/raw`, a dependency anyway.
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

NO_FILE = "data/raw"


def dvc_dep(spec: object) -> str:
    if spec is None or str(spec).startswith("pkg://"):
        return NO_FILE
    path = Path(str(spec)).expanduser()
    if not path.is_absolute() and ".." in path.parts:  # outside the repository: DVC takes it absolute
        path = path.resolve()
    return path.as_posix()


OmegaConf.register_new_resolver("ftpipe.dvc_dep", dvc_dep, replace=True)
