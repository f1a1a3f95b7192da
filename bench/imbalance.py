"""Does a loss for class imbalance help? Test macro-F1, accuracy and per-class recall per loss, mean ± std over seeds.

    python bench/imbalance.py                    # data=debates_imbalanced, 5 variants x seeds 1 2 3 (~36 min, 2 cores)
    python bench/imbalance.py --seeds 1 --variants cross_entropy focal_balanced train.epochs=1
    python bench/imbalance.py --table            # bench/results/imbalance.json as docs/imbalance.md's table

The pipeline's own stages run as subprocesses in a scratch copy of the project (`--workdir`, default a temporary
folder): clean, augment and tokenize once (they do not read train.*), then train -> evaluate for each variant and
seed on the same split. MLflow logs to the scratch copy's mlflow.db. Writes bench/results/imbalance.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from ftpipe.experiments.workspace import CODE  # noqa: E402
from ftpipe.infra.io import write_json  # noqa: E402

VARIANTS = {  # name: train.* overrides (focal_gamma 2.0 and label_smoothing 0.1 are conf/train/fast.yaml's)
    "cross_entropy": ["train.loss=cross_entropy", "train.class_weights=none"],
    "cross_entropy_balanced": ["train.loss=cross_entropy", "train.class_weights=balanced"],
    "focal": ["train.loss=focal", "train.class_weights=none"],
    "focal_balanced": ["train.loss=focal", "train.class_weights=balanced"],
    "label_smoothing": ["train.loss=label_smoothing", "train.class_weights=none"],
}
# 510 train rows: the default 2 epochs x batch 32 are 32 steps, too few to leave the majority class
RECIPE = ["data=debates_imbalanced", "augment=none", "train.epochs=5", "train.batch_size=16", "train.lr=5e-5",
          "mlflow.log_model=false", "mlflow.experiment=imbalance"]
SHARED = ["data/samples/debates_imbalanced.csv"]
RUN_OUTPUTS = ["models", "reports", "plots", "metrics/train.json", "metrics/metrics.json"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--workdir", type=Path, default=None, help="scratch copy (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "imbalance.json")
    parser.add_argument("--table", action="store_true", help="print --out's results as a markdown table; run nothing")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run, e.g. train.epochs=2")
    return parser.parse_args(argv)


def run(args: list[str], cwd: Path) -> None:
    env = {"PYTHONPATH": str(cwd), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, *args], cwd=cwd, env={**os.environ, **env}, text=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(args)} failed in {cwd}:\n" + "\n".join(done.stderr.splitlines()[-5:]))


def compose(cwd: Path, *overrides: str) -> None:
    run(["-m", "ftpipe.config.compose", *RECIPE, f"mlflow.tracking_uri=sqlite:///{cwd}/mlflow.db", *overrides], cwd)


def prepare(workdir: Path, overrides: list[str]) -> None:
    """The code, conf and data in `workdir`; clean -> augment -> tokenize once (split seed: conf's 42)."""
    for name in (*CODE, "conf"):
        shutil.copytree(REPO / name, workdir / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "dvc.yaml", workdir / "dvc.yaml")  # train's checkpoint fingerprint reads its code deps there
    for path in SHARED:
        (workdir / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / path, workdir / path)
    (workdir / "data/raw").mkdir(parents=True, exist_ok=True)
    compose(workdir, *overrides)
    for stage in ("clean", "augment", "tokenize"):
        run(["-m", f"stages.{stage}"], workdir)


def one_run(workdir: Path, variant: str, seed: int, overrides: list[str]) -> dict:
    for name in RUN_OUTPUTS:
        path = workdir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    compose(workdir, *VARIANTS[variant], f"seed={seed}", f"mlflow.run_name={variant}-seed{seed}", *overrides)
    start = time.perf_counter()
    for stage in ("train", "evaluate"):
        run(["-m", f"stages.{stage}"], workdir)
    test = json.loads((workdir / "metrics/metrics.json").read_text())
    train = json.loads((workdir / "metrics/train.json").read_text())
    return {"variant": variant, "seed": seed, "macro_f1": test["macro_f1"], "accuracy": test["accuracy"],
            **{f"recall/{name}": c["recall"] for name, c in test["per_class"].items()},
            "support": {name: c["support"] for name, c in test["per_class"].items()},
            "best_epoch": train["best_epoch"], "class_weights": train.get("class_weights"),
            "seconds": round(time.perf_counter() - start, 1)}


def summarise(runs: list[dict], variants: list[str]) -> dict[str, dict]:
    figures = [k for k in runs[0] if k in ("macro_f1", "accuracy") or k.startswith("recall/")]
    table = {}
    for variant in variants:
        rows = [r for r in runs if r["variant"] == variant]
        if not rows:
            continue
        table[variant] = {k: {"mean": round(statistics.fmean(r[k] for r in rows), 4),
                              "std": round(statistics.stdev(r[k] for r in rows), 4) if len(rows) > 1 else 0.0}
                          for k in figures} | {"runs": len(rows)}
    return table


def markdown(results: dict) -> str:
    """One row per variant: mean ± std of each figure over the seeds."""
    figures = [k for k in next(iter(results["summary"].values())) if k != "runs"]
    lines = ["| variant | " + " | ".join(f.replace("recall/", "recall ") for f in figures) + " |",
             "|---" * (len(figures) + 1) + "|"]
    for variant, row in results["summary"].items():
        lines.append(f"| {variant} | " + " | ".join(f"{row[f]['mean']:.3f} ± {row[f]['std']:.3f}" for f in figures)
                     + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.table:
        print(markdown(json.loads(args.out.read_text())))
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="imbalance-"))
    workdir.mkdir(parents=True, exist_ok=True)
    prepare(workdir, args.overrides)
    runs = []
    for seed in args.seeds:
        for variant in args.variants:
            runs.append(one_run(workdir, variant, seed, args.overrides))
            row = runs[-1]
            print(f"{variant:<24} seed {seed}: macro-F1 {row['macro_f1']:.4f} accuracy {row['accuracy']:.4f} "
                  + " ".join(f"{k} {v:.3f}" for k, v in row.items() if k.startswith("recall/"))
                  + f" ({row['seconds']} s)", flush=True)
            write_json(args.out, {"recipe": RECIPE, "overrides": args.overrides,  # after each run: a stopped
                                  "seeds": sorted({r["seed"] for r in runs}),     # bench keeps what it measured
                                  "support": runs[0]["support"], "summary": summarise(runs, args.variants),
                                  "runs": runs})
    print(f"written: {args.out}")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
