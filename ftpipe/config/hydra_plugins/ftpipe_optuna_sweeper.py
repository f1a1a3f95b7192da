"""Hydra finds sweepers only in a `hydra_plugins` package: this is the Optuna sweeper's entry, its logic is in
ftpipe.experiments.search. ftpipe-sweep puts this folder's parent on sys.path."""
from __future__ import annotations

from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper


class OptunaSweeper(Sweeper):
    def __init__(self, **settings: Any) -> None:
        self.settings = settings   # conf/hydra/sweeper/optuna.yaml

    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context,
                                                                task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        from ftpipe.experiments.search import run_study

        return run_study(self.settings, self.config, self.launcher, arguments)
