"""A sweep's report: every job ranked, settings averaged over seeds, the winner named; written and logged."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ftpipe.experiments import ranking
from ftpipe.experiments.ranking import NAME_TAG
from ftpipe.experiments.store import children
from ftpipe.infra.io import write_csv, write_text

REPORTS = Path("reports/sweeps")


@dataclass
class SweepReport:
    runs: pd.DataFrame        # one row per job, best first
    groups: pd.DataFrame      # one row per setting of the non-seed axes, best mean first
    best: dict[str, Any]      # the best finished run: run_id, run, exp, metric value
    text: str                 # the markdown summary


def sweep_report(client: Any, parent: Any, metric: str | None = None, mode: str | None = None,
                 metrics: list[str] | None = None) -> SweepReport:
    tags = parent.data.tags
    metric = metric or tags.get("sweep.metric", ranking.DEFAULT_METRICS[0])
    mode = mode or tags.get("sweep.mode", "max")
    axes = json.loads(tags.get("sweep.axes", "[]"))
    df = ranking.latest_attempts(ranking.runs_frame(children(client, parent)))
    name = tags.get("sweep.name", parent.info.run_name)
    head = [f"# Sweep `{name}`", "",
            f"MLflow parent run `{parent.info.run_id}` ({parent.info.status}); {len(df)} of "
            f"{tags.get('sweep.jobs', '?')} job(s) logged; ranked by `{metric}` ({mode})."]
    if df.empty:
        return SweepReport(df, pd.DataFrame(), {}, "\n".join(head + ["", "No job has logged a run yet."]) + "\n")
    metrics = [m for m in dict.fromkeys([metric, *(metrics or ranking.DEFAULT_METRICS)]) if f"metric:{m}" in df]
    ranked = ranking.rank(df, metric, mode)
    axes = [a for a in axes if f"param:{a}" in df] or ranking.varying_params(df)
    runs = ranking.display(ranked, axes, metrics)
    groups = ranking.group_over_seeds(ranked, axes, metrics, metric, mode)
    top = ranked.iloc[0]
    best = {"run_id": top["run_id"], "run": top["run"], "exp": top.get("exp", ""),
            metric: top.get(f"metric:{metric}")} if top["status"] == "FINISHED" else {}
    text = head + [""]
    if best:
        text += [f"**Best run:** `{best['run']}` (DVC experiment `{best['exp'] or '-'}`, run `{best['run_id']}`): "
                 f"{metric} = {best[metric]:.4f}", ""]
    pruned = int(df["status"].eq("PRUNED").sum())
    failed = int((~df["status"].isin(["FINISHED", "PRUNED"])).sum())
    if pruned or failed:
        text += [f"{pruned} job(s) pruned and {failed} not finished; they are listed last.", ""]
    if not groups.empty:
        title = "Settings, averaged over seeds (mean, std, count)" if "seed" in axes else "Settings"
        text += [f"## {title}", "", ranking.markdown(groups), "",
                 ranking.seed_gap(ranked, groups, axes, metric, mode), ""]
    text += ["## Runs", "", ranking.markdown(runs), "",
             "Side by side in the MLflow UI (`make ui`): "
             + ranking.compare_url(list(ranked["run_id"]), [parent.info.experiment_id]),
             ""]
    return SweepReport(runs, groups, best, "\n".join(text))


def finish(client: Any, parent_id: str, settings: Any) -> SweepReport:
    """Write and log the report; tag the parent with the winner."""
    parent = client.get_run(parent_id)
    report = sweep_report(client, parent, settings.metric, settings.mode)
    out = REPORTS / parent.data.tags[NAME_TAG]
    write_text(out / "summary.md", report.text)
    write_csv(out / "runs.csv", report.runs)
    if not report.groups.empty:
        write_csv(out / "groups.csv", report.groups)
    for path in sorted(out.iterdir()):
        client.log_artifact(parent_id, str(path))
    if report.best:
        client.set_tag(parent_id, "sweep.best_run_id", report.best["run_id"])
        client.set_tag(parent_id, "sweep.best_exp", report.best["exp"])
        client.log_metric(parent_id, f"sweep.best.{settings.metric}", float(report.best[settings.metric]))
    print(report.text, file=sys.stdout, flush=True)
    return report
