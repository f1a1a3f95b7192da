"""Does augmentation help? Baseline vs each augmenter on a low-data subset, mean ± std test accuracy.

    python bench/augment_ablation.py                 # 500 train rows, seeds 1 2 3, all four augment options (~40 min)
    python bench/augment_ablation.py --smoke         # tiny and quick: proves the wiring, not the effect

The pipeline's own stages run as subprocesses (`python -m stages.<name>`) in a temporary copy of the
project, each with a params.yaml composed from conf/ plus overrides. `clean` runs once (fixed split, so
every run is scored on the same full test split); per seed, the train split is cut to a stratified subset
of --train-rows, then augment -> tokenize -> train -> evaluate run for each augment option.
Runs are logged to MLflow (experiment `augment-ablation`) in the repository's store.
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

import pandas as pd
from sklearn.model_selection import train_test_split

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from ftpipe.experiments.workspace import CODE  # noqa: E402
from ftpipe.infra.io import write_json  # noqa: E402

OPTIONS = ["none", "synonym", "backtranslation", "synonym_backtranslation"]
EVAL_METRICS = ["metrics/metrics.json", "metrics/evaluate.json"]  # evaluate's output, newest name first
RUN_OUTPUTS = ["data/augmented", "data/tokenized", "models", "metrics", "reports", "plots"]
# the low-data recipe: at the default 2 epochs x 5e-5, 500 rows give 32 steps, too few to leave the majority
# class (docs/sweeps.md saw the same at 800 rows); overrides given on the command line come after and win
LOW_DATA_RECIPE = ["train.lr=1e-4", "train.epochs=4"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--options", nargs="+", default=OPTIONS, help="augment options (conf/augment/*.yaml)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--train-rows", type=int, default=500, help="size of the low-data train subset")
    parser.add_argument("--eval-rows", type=int, default=None, help="cap validation/test rows (default: all)")
    parser.add_argument("--base-seed", type=int, default=42, help="seed of the clean split, shared by all runs")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "augment_ablation.json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project copy")
    parser.add_argument("--smoke", action="store_true", help="40 train rows, 100 eval rows, 1 seed, 2 options")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run, e.g. train.epochs=2")
    args = parser.parse_args(argv)
    smoke = ["model.max_length=64"] if args.smoke else []
    args.overrides = [*LOW_DATA_RECIPE, *smoke, *args.overrides]
    if args.smoke:
        args.train_rows, args.eval_rows, args.seeds = 40, 100, args.seeds[:1]
        args.options = [o for o in args.options if o in ("none", "synonym")] or args.options[:1]
    return args


def stage_env() -> dict[str, str]:
    """The copy runs its own `stages`; resources and MLflow stay the repository's."""
    env = {k: v for k, v in os.environ.items() if k not in ("FTPIPE_PARAMS", "PYTHONPATH")}
    env.setdefault("NLTK_DATA", str(REPO / ".nlp_data" / "nltk_data"))
    env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{REPO / 'mlflow.db'}")
    env.setdefault("MLFLOW_EXPERIMENT_NAME", "augment-ablation")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("DVC_NO_ANALYTICS", "1")
    return env


def run(args: list[str], cwd: Path, **extra_env: str) -> None:
    done = subprocess.run([sys.executable, *args], cwd=cwd, env={**stage_env(), **extra_env}, text=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-5:]
        raise SystemExit(f"error: {' '.join(args)} failed in {cwd}:\n" + "\n".join(tail))


def stratified(frame: pd.DataFrame, rows: int | None, seed: int) -> pd.DataFrame:
    if not rows or rows >= len(frame):
        return frame
    part, _ = train_test_split(frame, train_size=rows, stratify=frame["label"], random_state=seed)
    return part.sort_index()


def prepare_copy(workdir: Path, args: argparse.Namespace) -> pd.DataFrame:
    """Copy the code and config, run `clean` once; returns the full clean train split."""
    for name in (*CODE, "conf"):
        shutil.copytree(REPO / name, workdir / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "dvc.yaml", workdir / "dvc.yaml")  # train's checkpoint fingerprint reads its code deps there
    (workdir / "data" / "raw").mkdir(parents=True)
    run(["-m", "ftpipe.config.compose", "augment=none", f"seed={args.base_seed}", *args.overrides], workdir)
    run(["-m", "stages.clean"], workdir)
    clean = workdir / "data" / "clean"
    for split in ("validation", "test"):
        frame = pd.read_parquet(clean / f"{split}.parquet")
        stratified(frame, args.eval_rows, args.base_seed).to_parquet(clean / f"{split}.parquet", index=False)
    return pd.read_parquet(clean / "train.parquet")


def one_run(workdir: Path, option: str, seed: int, args: argparse.Namespace) -> dict:
    """augment -> tokenize -> train -> evaluate for one option and seed; returns its figures."""
    for name in RUN_OUTPUTS:
        shutil.rmtree(workdir / name, ignore_errors=True)
    run(["-m", "ftpipe.config.compose", f"augment={option}", f"seed={seed}", *args.overrides], workdir)
    start = time.perf_counter()
    for stage in ("augment", "tokenize", "train", "evaluate"):
        run(["-m", f"stages.{stage}"], workdir, FTPIPE_RUN_NAME=f"ablation-{option}-seed{seed}")
    evaluated = next(workdir / p for p in EVAL_METRICS if (workdir / p).is_file())
    augment = json.loads((workdir / "metrics" / "augment.json").read_text())
    return {"option": option, "seed": seed, "accuracy": json.loads(evaluated.read_text())["accuracy"],
            "train_rows": augment["rows_total"], "rows_added": augment["rows_added"],
            "seconds": round(time.perf_counter() - start, 1)}


def summarise(runs: list[dict], options: list[str]) -> dict[str, dict]:
    table = {}
    for option in options:
        scores = [r["accuracy"] for r in runs if r["option"] == option]
        table[option] = {"mean": statistics.fmean(scores), "std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                         "runs": len(scores)}
    base = table.get("none", {}).get("mean")
    for row in table.values():
        row["delta_vs_none"] = row["mean"] - base if base is not None else None
    return table


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="augment-ablation-"))
    try:
        full_train = prepare_copy(workdir, args)
        runs = []
        for seed in args.seeds:
            subset = stratified(full_train, args.train_rows, seed)
            subset.to_parquet(workdir / "data" / "clean" / "train.parquet", index=False)
            for option in args.options:
                runs.append(one_run(workdir, option, seed, args))
                print(f"{option:<24} seed {seed}: accuracy {runs[-1]['accuracy']:.4f} "
                      f"({runs[-1]['train_rows']} train rows, {runs[-1]['seconds']} s)", flush=True)
        table = summarise(runs, args.options)
        head = f"test accuracy (mean ± std, {len(args.seeds)} seeds, {args.train_rows} rows)"
        print(f"\n| augment | {head} | Δ vs none |")
        print("|---|---|---|")
        for option, row in table.items():
            delta = "" if row["delta_vs_none"] is None else f"{row['delta_vs_none']:+.4f}"
            print(f"| {option} | {row['mean']:.4f} ± {row['std']:.4f} | {delta} |")
        write_json(args.out, {"train_rows": args.train_rows, "seeds": args.seeds, "overrides": args.overrides,
                              "smoke": args.smoke, "summary": table, "runs": runs})
        print(f"written: {args.out}")
    finally:
        if args.keep:
            print(f"kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
