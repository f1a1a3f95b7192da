"""Compare MLflow runs: the params that differ, the metrics side by side, and a sweep's ranking.

Ranking uses a validation metric by default (`val/best_macro_f1`), so the test split is only reported,
never used to choose. Repeats of one setting under different seeds are averaged into groups.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from ftpipe.infra.errors import PipelineError
from ftpipe.tracking import keys

DEFAULT_METRICS = [keys.RANK, "val/best_accuracy", "test/accuracy", "test/macro_f1", "test/ece", "train/seconds"]
PARENT_TAG, NAME_TAG = "sweep.role", "sweep.name"
UI = "http://127.0.0.1:5000"  # `make ui`


def runs_frame(runs: Iterable[Any]) -> pd.DataFrame:
    """One row per MLflow run: `run_id`, `run`, `status`, then `param:<key>` and `metric:<key>` columns."""
    rows = []
    for r in runs:
        # a pruned trial's run is KILLED in MLflow's terms; the sweep's own tag says PRUNED
        status = "PRUNED" if r.data.tags.get("sweep.state") == "PRUNED" else r.info.status
        # a job is known by its run's name, <sweep>-<job>, even in an attempt killed before the job could tag it
        key = r.info.run_name or r.info.run_id
        row = {"run_id": r.info.run_id, "run": r.info.run_name or r.info.run_id[:8], "status": status,
               "exp": r.data.tags.get("sweep.exp", ""), "key": key,
               "start": r.info.start_time}
        row.update({f"param:{k}": v for k, v in r.data.params.items()})
        row.update({f"metric:{k}": v for k, v in r.data.metrics.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def varying_params(df: pd.DataFrame) -> list[str]:
    """Param keys whose value is not the same in every run (a missing value counts as a value)."""
    cols = [c for c in df.columns if c.startswith("param:")]
    return [c[len("param:"):] for c in cols if df[c].fillna("<unset>").nunique() > 1]


def metric_or_fail(df: pd.DataFrame, metric: str) -> str:
    col = f"metric:{metric}"
    if col not in df:
        known = sorted(c[len("metric:"):] for c in df.columns if c.startswith("metric:"))
        close = [k for k in known if metric.split("_")[-1] in k][:5]
        raise PipelineError(f"metric '{metric}' is in none of these runs"
                            + (f"; did you mean one of {close}?" if close else f" (they have {known[:8]} ...)"))
    return col


def rank(df: pd.DataFrame, metric: str, mode: str) -> pd.DataFrame:
    """Finished runs first, best `metric` first; runs without the metric last."""
    col = metric_or_fail(df, metric)
    out = df.assign(_ok=df["status"].eq("FINISHED") & df[col].notna())
    return out.sort_values(["_ok", col], ascending=[False, mode == "min"], na_position="last").drop(columns="_ok")


def latest_attempts(df: pd.DataFrame) -> pd.DataFrame:
    """One row per job: a job that a resumed sweep ran again is shown by its latest attempt only."""
    if df.empty:
        return df
    return df.sort_values("start").drop_duplicates("key", keep="last").sort_index()


def seed_gap(df: pd.DataFrame, groups: pd.DataFrame, keys: list[str], metric: str, mode: str) -> str:
    """Does the best setting beat the runner-up beyond seed noise? A Welch 95 % interval for the difference of
    their means over seeds, in words."""
    if len(groups) < 2:
        return "Only one setting finished: nothing to compare."
    keys = [k for k in keys if k != "seed"]
    done = df[df["status"].eq("FINISHED")]

    def values(row: pd.Series) -> np.ndarray:
        mask = np.ones(len(done), bool)
        for k in keys:
            mask &= done[f"param:{k}"].fillna("<unset>").to_numpy() == row[k]
        return done.loc[mask, f"metric:{metric}"].dropna().to_numpy(float)

    a, b = values(groups.iloc[0]), values(groups.iloc[1])
    if min(len(a), len(b)) < 2:
        return (f"The best setting and the runner-up have {len(a)} and {len(b)} finished seed(s): seed noise cannot be "
                "told from a real gap; add seeds (e.g. seed=1,2,3).")
    diff, (low, high) = welch_interval(a, b)
    better = low > 0 if mode == "max" else high < 0
    verdict = "beats the runner-up beyond seed noise" if better else "is within seed noise of the runner-up"
    return (f"The best setting {verdict}: {metric} difference {diff:+.4f}, Welch 95 % interval [{low:+.4f}, "
            f"{high:+.4f}] over {len(a)} and {len(b)} seeds.")


def welch_interval(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """mean(a) - mean(b) and its Welch t-interval (unequal variances); each side needs two or more values."""
    from scipy import stats

    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff = float(a.mean() - b.mean())
    if va + vb == 0:  # identical repeats on both sides: no spread to build an interval from
        return diff, (diff, diff)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + level / 2, dof) * np.sqrt(va + vb))
    return diff, (diff - half, diff + half)


def group_over_seeds(df: pd.DataFrame, keys: list[str], metrics: list[str], metric: str, mode: str) -> pd.DataFrame:
    """Mean, standard deviation and count of each metric per setting of `keys` (seed excluded)."""
    done = df[df["status"].eq("FINISHED")]
    if done.empty:
        return pd.DataFrame()
    cols = [f"metric:{m}" for m in metrics if f"metric:{m}" in done]
    keys = [f"param:{k}" for k in keys if k != "seed"]
    grouped = done.assign(**{k: done[k].fillna("<unset>") for k in keys}).groupby(keys, sort=False) if keys \
        else done.assign(_all="all").groupby("_all")
    table = grouped[cols].agg(["mean", "std", "count"])
    table.columns = [f"{c[len('metric:'):]} {stat}" for c, stat in table.columns]
    table = table.reset_index().rename(columns=lambda c: c[len("param:"):] if c.startswith("param:") else c)
    table = table.drop(columns=["_all"], errors="ignore")
    return table.sort_values(f"{metric} mean", ascending=mode == "min", na_position="last")


def display(df: pd.DataFrame, params: list[str], metrics: list[str]) -> pd.DataFrame:
    """The readable table: run name, DVC experiment (if any), status, the given params, then the metrics."""
    # the DVC experiment column only when it says something the run name does not
    exp = {"exp": "exp"} if "exp" in df and (df["exp"].astype(bool) & df["exp"].ne(df["run"])).any() else {}
    cols = {"run": "run", **exp, "status": "status", **{f"param:{p}": p for p in params},
            **{f"metric:{m}": m for m in metrics}}
    return df[[c for c in cols if c in df]].rename(columns=cols)


def with_delta(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Add `Δ metric` against the first row (the baseline)."""
    if metric not in table or table.empty:
        return table
    return table.assign(**{f"Δ {metric}": table[metric] - table[metric].iloc[0]})


def markdown(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-style table; floats rounded, missing values as '-'."""
    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"
        if isinstance(v, float):
            return f"{v:.{digits}g}" if abs(v) < 1e-3 and v != 0 else f"{v:.{digits}f}".rstrip("0").rstrip(".")
        return str(v).replace("|", "\\|")

    head = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def compare_url(run_ids: list[str], experiment_ids: list[str], ui: str = UI) -> str:
    """The MLflow UI page that lists these runs' params and metrics side by side."""
    return (f"{ui}/#/compare-runs?runs={quote(json.dumps(run_ids))}"
            f"&experiments={quote(json.dumps(sorted(set(experiment_ids))))}")
