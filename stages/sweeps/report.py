"""A sweep's report: every job ranked, settings averaged over seeds, the winner named."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from stages.sweeps import compare
from stages.sweeps.store import children


@dataclass
class SweepReport:
    runs: pd.DataFrame        # one row per job, best first
    groups: pd.DataFrame      # one row per setting of the non-seed axes, best mean first
    best: dict[str, Any]      # the best finished run: run_id, run, exp, metric value
    text: str                 # the markdown summary


def sweep_report(client: Any, parent: Any, metric: str | None = None, mode: str | None = None,
                 metrics: list[str] | None = None) -> SweepReport:
    tags = parent.data.tags
    metric = metric or tags.get("sweep.metric", "best_val_macro_f1")
    mode = mode or tags.get("sweep.mode", "max")
    axes = json.loads(tags.get("sweep.axes", "[]"))
    df = compare.runs_frame(children(client, parent))
    name = tags.get("sweep.name", parent.info.run_name)
    head = [f"# Sweep `{name}`", "",
            f"MLflow parent run `{parent.info.run_id}` ({parent.info.status}); {len(df)} of "
            f"{tags.get('sweep.jobs', '?')} job(s) logged; ranked by `{metric}` ({mode})."]
    if df.empty:
        return SweepReport(df, pd.DataFrame(), {}, "\n".join(head + ["", "No job has logged a run yet."]) + "\n")
    metrics = [m for m in dict.fromkeys([metric, *(metrics or compare.DEFAULT_METRICS)]) if f"metric:{m}" in df]
    ranked = compare.rank(df, metric, mode)
    axes = [a for a in axes if f"param:{a}" in df] or compare.varying_params(df)
    runs = compare.display(ranked, axes, metrics)
    groups = compare.group_over_seeds(ranked, axes, metrics, metric, mode)
    top = ranked.iloc[0]
    best = {"run_id": top["run_id"], "run": top["run"], "exp": top.get("exp", ""),
            metric: top.get(f"metric:{metric}")} if top["status"] == "FINISHED" else {}
    text = head + [""]
    if best:
        text += [f"**Best run:** `{best['run']}` (DVC experiment `{best['exp'] or '-'}`, run `{best['run_id']}`): "
                 f"{metric} = {best[metric]:.4f}", ""]
    failed = int((~df["status"].eq("FINISHED")).sum())
    if failed:
        text += [f"{failed} job(s) did not finish; they are listed last.", ""]
    if "seed" in axes and not groups.empty:
        text += ["## Settings, averaged over seeds", "", compare.markdown(groups), ""]
    text += ["## Runs", "", compare.markdown(runs), "",
             f"Side by side in the MLflow UI (`make ui`): {compare.compare_url(list(ranked['run_id']), [parent.info.experiment_id])}",
             ""]
    return SweepReport(runs, groups, best, "\n".join(text))
