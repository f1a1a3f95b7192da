"""Label-noise audit of the train split: confident learning (cleanlab) over out-of-fold probabilities of the cheap
TF-IDF + logistic regression baseline, ranking the rows most likely mislabelled.

Runs inside clean, after the split and on the train split only: a suspect never reaches augmentation, tokenizing
or training when data.drop_suspected_label_errors is true, and validation/test are never judged (or changed) by
a model, so evaluation stays honest. docs/audit.md has the method and the measured cost.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from ftpipe.data.splitting import stratified_indices
from ftpipe.infra.errors import PipelineError
from ftpipe.infra.logs import get_logger

log = get_logger("clean")
SUSPECT_COLUMNS = ["rank", "source_row", "text", "given_label", "suggested_label", "self_confidence",
                   "prob_suggested"]


@dataclass
class Audit:
    """What the audit found; `suspects` holds every suspected train row, most likely mislabelled first."""
    method: str
    folds: int
    top: int                     # suspects the report lists
    rows_audited: int = 0
    rows_not_audited: int = 0
    skipped: str | None = None   # why no row was audited (the report says so; nothing is dropped)
    seconds: float = 0.0
    suspects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SUSPECT_COLUMNS))
    rows_per_class: dict[str, int] = field(default_factory=dict)   # audited rows, by given label

    def report(self, names: list[str]) -> dict:
        per_class = self.suspects["given_label"].value_counts().to_dict() if len(self.suspects) else {}
        return {"method": self.method, "folds": self.folds, "skipped": self.skipped,
                "rows_audited": self.rows_audited, "rows_not_audited": self.rows_not_audited,
                "suspected": len(self.suspects), "suspected_share": _share(len(self.suspects), self.rows_audited),
                "suspected_per_class": {n: int(per_class.get(n, 0)) for n in names},
                "suspected_share_per_class": {n: _share(per_class.get(n, 0), self.rows_per_class.get(n, 0))
                                              for n in names},
                "seconds": round(self.seconds, 2)}


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def method_name() -> str:
    from importlib.metadata import version

    return f"cleanlab {version('cleanlab')}"


def audit_train(train: pd.DataFrame, names: list[str], audit: DictConfig | None, seed: int) -> Audit:
    """Audit `train` (columns text, label as class names, source_row); `audit` is data.audit (None: off)."""
    if audit is None or not audit.enabled:
        return Audit(method=method_name(), folds=0, top=0, skipped="data.audit.enabled is false",
                     rows_not_audited=len(train))
    result = Audit(method=method_name(), folds=audit.folds, top=audit.top)
    start = time.perf_counter()
    rows = _sample(train, audit.max_rows, seed)
    result.rows_audited, result.rows_not_audited = len(rows), len(train) - len(rows)
    labels = rows["label"].astype(str).map({n: i for i, n in enumerate(names)}).to_numpy("int64")
    counts = np.bincount(labels, minlength=len(names))
    result.rows_per_class = {n: int(c) for n, c in zip(names, counts)}
    result.skipped = _why_not(counts, names, audit.folds)
    if result.skipped is None:
        try:
            probs = out_of_fold_probs(rows["text"].tolist(), labels, len(names), audit.folds, seed)
        except ValueError as exc:  # e.g. no word or character n-gram occurs twice: nothing to learn from
            result.skipped = f"the baseline cannot be fitted on the train split ({exc})"
        else:
            result.suspects = _suspects(rows, labels, probs, names)
    if result.skipped:
        result.rows_audited, result.rows_not_audited = 0, len(train)
        log.warning("label audit skipped: %s", result.skipped)
    result.seconds = time.perf_counter() - start
    return result


def _sample(train: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """At most max_rows rows, stratified: the audit's cost is bounded, however large the data."""
    if not max_rows or len(train) <= max_rows:
        return train
    share = max_rows / len(train)
    picked = stratified_indices(train["label"].tolist(), {"audit": share, "rest": 1 - share}, seed)["audit"]
    log.info("label audit: a stratified sample of %d of %d train rows (data.audit.max_rows)", len(picked), len(train))
    return train.iloc[picked]


def _why_not(counts: np.ndarray, names: list[str], folds: int) -> str | None:
    """Why cross-fitting cannot run on these class counts, or None."""
    if (counts > 0).sum() < 2:
        return "the train split has fewer than two classes"
    small = int(np.argmin(np.where(counts > 0, counts, np.iinfo(np.int64).max)))
    if counts[small] < folds:
        return (f"class '{names[small]}' has {counts[small]} train rows, fewer than data.audit.folds ({folds}); "
                f"lower data.audit.folds or add rows")
    return None


def out_of_fold_probs(texts: list[str], labels: np.ndarray, n_classes: int, folds: int, seed: int) -> np.ndarray:
    """Each row's class probabilities from a baseline that never saw it (stratified, seeded k-fold)."""
    from sklearn.model_selection import StratifiedKFold

    from ftpipe.evaluation.baseline import fit_predict

    probs = np.zeros((len(texts), n_classes))
    for fit_rows, held_out in StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, labels):
        probs[held_out] = fit_predict([texts[i] for i in fit_rows], labels[fit_rows], [texts[i] for i in held_out],
                                      n_classes)
    return probs


def _suspects(rows: pd.DataFrame, labels: np.ndarray, probs: np.ndarray, names: list[str]) -> pd.DataFrame:
    """The rows confident learning flags (prune by noise rate), lowest self-confidence first."""
    from cleanlab.filter import find_label_issues

    ranked = find_label_issues(labels, probs, filter_by="prune_by_noise_rate",
                               return_indices_ranked_by="self_confidence", n_jobs=1)
    given = labels[ranked]
    others = probs[ranked].copy()
    others[np.arange(len(ranked)), given] = -1  # the suggestion is the likeliest class other than the given one
    suggested = others.argmax(axis=1)
    return pd.DataFrame({"rank": np.arange(1, len(ranked) + 1),
                         "source_row": rows["source_row"].to_numpy()[ranked],
                         "text": rows["text"].to_numpy()[ranked],
                         "given_label": [names[i] for i in given],
                         "suggested_label": [names[i] for i in suggested],
                         "self_confidence": probs[ranked, given].round(4),
                         "prob_suggested": probs[ranked, suggested].round(4)})


def drop_suspects(train: pd.DataFrame, audit: Audit) -> tuple[pd.DataFrame, int]:
    """The train split without the suspected rows, and how many went (data.drop_suspected_label_errors)."""
    if audit.skipped:
        raise PipelineError(f"data.drop_suspected_label_errors is true but the label audit could not run: "
                            f"{audit.skipped}")
    gone = train["source_row"].isin(set(audit.suspects["source_row"]))
    return train[~gone], int(gone.sum())
