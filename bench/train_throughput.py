"""Question 1 and 2: training throughput three ways, and the model FLOP utilisation of ours.

  (a) seed   the seed documents' recipe: HF Trainer, padding="max_length" (the model's 512), defaults, fp32
  (b) tuned  HF Trainer with DataCollatorWithPadding and train_sampling_strategy="group_by_length"
  (c) ours   this pipeline's `train` stage (stages.train.main) in a scratch project, fp32 and bf16

A variant name is its base letter, plus `_bf16` for bf16 autocast. Each of ours is compared with the Trainer at
its own precision: c with b, c_bf16 with b_bf16.

Same model, data subset, epochs, batch size and seed; each run in its own process (its own memory peak);
variants interleaved and repeated, medians reported. (a) pads every row to 512 tokens and is ~40x slower,
so it runs only `--seed-steps` steps and is compared per sample.

    python -m bench.train_throughput [--smoke] [--variants a,b,c]   # the headline: 8,000 rows, batch 32
    python -m bench.train_throughput --quick                         # 512 rows, batch 16, 2 repeats
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from bench.common import ROOT, median, model_path, peak_rss_mb, rt_subset, run_worker, timed, write_result

# the headline: enough rows that the models really learn (512 rows left both at the majority-class share)
HEADLINE = {"rows": 8000, "val_rows": 1275, "batch_size": 32, "repeats": 1, "name": "train_throughput"}
QUICK = {"rows": 512, "val_rows": 512, "batch_size": 16, "repeats": 2, "name": "train_throughput_quick"}
MAX_LENGTH = 128  # the pipeline's model.max_length; RT snippets never reach it
LABELS = ["fresh", "rotten"]


def precision(variant: str) -> str:
    return "bf16" if "_bf16" in variant else "fp32"


def trainer_base(variant: str) -> str:
    """The tuned Trainer at the variant's own precision: what its speedup_vs_b is measured against."""
    return "b_bf16" if precision(variant) == "bf16" else "b"


def bf16_native() -> bool:
    """CUDA, or a CPU with AVX512-BF16/AMX; elsewhere torch emulates bf16 far below fp32."""
    import torch

    from ftpipe.training.device import cpu_supports_bf16

    return torch.cuda.is_available() or cpu_supports_bf16()


def load_data(path: str) -> dict:
    return {k: (v["texts"], np.asarray(v["labels"])) for k, v in json.loads(Path(path).read_text()).items()}


def pipeline_ids(model: str, texts: list[str]) -> list[list[int]]:
    from ftpipe.data.tokens import tokenize_texts
    from ftpipe.training.models import load_tokenizer

    return tokenize_texts(load_tokenizer(model), texts, MAX_LENGTH)[0]


def val_accuracy(model, model_dir: str, val: tuple[list[str], np.ndarray], amp=None) -> float:
    """The same scorer for every variant: the pipeline's predict_probs on the validation subset."""
    from ftpipe.evaluation.metrics import classification_metrics
    from ftpipe.evaluation.predict import predict_probs
    from ftpipe.training.models import load_tokenizer

    ids = pipeline_ids(model_dir, val[0])
    device = next(model.parameters()).device  # the Trainer leaves it on CUDA when there is one
    probs = predict_probs(model, ids, 128, device, load_tokenizer(model_dir).pad_token_id, amp)
    return classification_metrics(val[1], probs)["accuracy"]


def run_trainer(spec: dict, data: dict) -> dict:
    """(a) or (b): what most users copy, and the same with the two Trainer switches that matter."""
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    seed_recipe = spec["variant"] == "a"
    texts, labels = data["train"]
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    pad = dict(padding="max_length", truncation=True) if seed_recipe else dict(truncation=True, max_length=MAX_LENGTH)
    dataset = Dataset.from_dict({"text": texts, "label": labels.tolist()}).map(
        lambda b: tokenizer(b["text"], **pad), batched=True, remove_columns=["text"])
    set_seed(spec["seed"])
    model = AutoModelForSequenceClassification.from_pretrained(spec["model"], num_labels=len(LABELS))
    args = TrainingArguments(
        output_dir=spec["scratch"], per_device_train_batch_size=spec["batch_size"], num_train_epochs=spec["epochs"],
        max_steps=spec["seed_steps"] if seed_recipe else -1, seed=spec["seed"], report_to="none",
        save_strategy="no", disable_tqdm=True, bf16=precision(spec["variant"]) == "bf16",
        use_cpu=not torch.cuda.is_available(),  # without it bf16 on CPU is refused (it asks for a GPU)
        **({} if seed_recipe else {"train_sampling_strategy": "group_by_length"}))
    collator = None if seed_recipe else DataCollatorWithPadding(tokenizer)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
    seconds, out = timed(trainer.train)
    samples = min(out.global_step * spec["batch_size"], len(texts) * spec["epochs"])
    real_len = float(np.mean([len(x) for x in dataset["input_ids"]])) if not seed_recipe else \
        float(np.mean([sum(m) for m in dataset["attention_mask"]]))
    amp = torch.bfloat16 if args.bf16 else None
    return {"seconds": seconds, "samples": samples, "real_tokens": samples * real_len,
            "padded_tokens": samples * (512 if seed_recipe else real_len), "steps": out.global_step,
            "val_accuracy": val_accuracy(trainer.model, spec["model"], data["validation"], amp)}


def run_pipeline(spec: dict, data: dict) -> dict:
    """(c): the `train` stage itself, on pre-tokenized splits (written as tokenize writes them) in a scratch project."""
    import pandas as pd
    from omegaconf import OmegaConf

    from ftpipe.training.batching import save_tokenized

    project = Path(spec["scratch"])
    for folder in ("data/tokenized", "data/clean"):
        (project / folder).mkdir(parents=True, exist_ok=True)
    for split in ("train", "validation"):
        texts, labels = data[split]
        ids = pipeline_ids(spec["model"], texts)
        save_tokenized(project / f"data/tokenized/{split}", ids, labels)
        # the clean split as well: train logs it to MLflow as the run's dataset
        pd.DataFrame({"text": texts, "label": labels, "source_row": range(1, len(texts) + 1)}).to_parquet(
            project / f"data/clean/{split}.parquet", index=False)
    (project / "data/clean/labels.json").write_text(json.dumps({"names": LABELS}))
    cfg = OmegaConf.load(ROOT / "params.yaml")
    for key, value in {"model.name_or_path": spec["model"], "seed": spec["seed"], "train.epochs": spec["epochs"],
                       "train.batch_size": spec["batch_size"], "train.num_threads": spec["threads"],
                       "train.precision": precision(spec["variant"]),
                       "mlflow.log_model": False, "train.early_stopping.patience": 99}.items():
        OmegaConf.update(cfg, key, value)
    OmegaConf.save(cfg, project / "params.yaml")
    os.environ.update(MLFLOW_TRACKING_URI=f"sqlite:///{project}/mlflow.db")
    os.environ.pop("FTPIPE_PARAMS", None)
    os.chdir(project)
    from stages import train

    if spec.get("profile"):
        import torch

        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            train.main()
        (Path(spec["profile"])).write_text(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    else:
        train.main()
    report = json.loads(Path("metrics/train.json").read_text())
    n = len(data["train"][0]) * report["epochs_run"]
    return {"seconds": report["seconds"], "samples": n, "real_tokens": report["tokens_per_second"] * report["seconds"],
            "padded_tokens": None, "steps": None, "val_accuracy": report["val_accuracy"]}


def worker(spec: dict) -> dict:
    import torch

    torch.set_num_threads(spec["threads"])
    data = load_data(spec["data"])
    result = run_trainer(spec, data) if spec["variant"].startswith(("a", "b")) else run_pipeline(spec, data)
    seconds = max(result["seconds"], 1e-3)  # train.json rounds to 0.1 s: a smoke run can read 0.0
    result.update(samples_per_s=result["samples"] / seconds, tokens_per_s=result["real_tokens"] / seconds,
                  peak_rss_mb=peak_rss_mb())
    return result


def pipeline_flops(model_dir: str, texts: list[str], batch_size: int, seed: int, epochs: int) -> float:
    """Exact training FLOPs of (c)'s batches: its batch order is a pure function of (seed, epoch)."""
    from transformers import AutoConfig

    from bench.flops import batch_train_flops, params_from_config
    from ftpipe.training.batching import train_batches

    config = AutoConfig.from_pretrained(model_dir, num_labels=len(LABELS))
    lengths = np.array([len(x) for x in pipeline_ids(model_dir, texts)])
    batches = [lengths[b] for e in range(epochs) for b in train_batches(lengths, batch_size, seed, e, True)]
    return batch_train_flops(params_from_config(config), config.num_hidden_layers, config.hidden_size, batches)


def summarise(runs: dict[str, list[dict]]) -> dict:
    out = {}
    for variant, rows in runs.items():
        out[variant] = {k: round(median([r[k] for r in rows]), 3) for k in
                        ("samples_per_s", "tokens_per_s", "peak_rss_mb", "seconds")}
        out[variant]["val_accuracy"] = rows[0]["val_accuracy"]
        out[variant]["val_accuracy_all"] = sorted({r["val_accuracy"] for r in rows})
        out[variant]["samples"] = rows[0]["samples"]
        out[variant]["repeats"] = len(rows)
    return out


def report(args, variants: list[str], runs: dict, peaks: dict, model: str, data: dict, profile: str | None) -> dict:
    """Medians, ratios and MFU from the per-run results; writes bench/results/train_throughput.json."""
    summary = summarise({v: r for v, r in runs.items() if r})
    flops = pipeline_flops(model, data["train"][0], args.batch_size, 42, args.epochs)
    peak = {k: round(median(v), 1) for k, v in peaks.items()}
    peaks_native = bf16_native()
    for variant in (v for v in summary if v.startswith("c")):
        s = summary[variant]
        achieved = flops / s["samples"] * s["samples_per_s"] / 1e9 * args.epochs
        s["gflops_per_s"] = round(achieved, 1)
        s["mfu_vs_fp32_peak"] = round(achieved / peak["fp32"], 3)
        # against an emulated bf16 peak (AVX2: ~1 GFLOP/s) a ratio says nothing: null, with bf16_native saying why
        s["mfu_vs_bf16_peak"] = round(achieved / peak["bf16"], 3) if peaks_native else None
        for key, base in (("a", "a"), ("b", trainer_base(variant))):  # (b) at the same precision
            if base in summary:
                s[f"speedup_vs_{key}"] = round(s["samples_per_s"] / summary[base]["samples_per_s"], 2)
                delta = s["val_accuracy"] - summary[base]["val_accuracy"]
                s[f"accuracy_delta_vs_{key}_points"] = round(100 * delta, 2)
        s["vs_b_variant"] = trainer_base(variant)
    payload = {"settings": {k: v for k, v in vars(args).items() if k != "worker"} | {"variants": variants},
               "matmul_peak_gflops": peak, "bf16_native": peaks_native, "train_flops_per_epoch_c": flops / args.epochs,
               "flops_convention": "6*N_non_embedding*real_tokens + 6*layers*padded_width*hidden*real_tokens",
               "results": summary, "profile_top_ops_c": profile, "runs": runs}
    write_result(args.name, payload, args.smoke)
    return payload


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="tiny model, a few rows: checks the script, not speed")
    parser.add_argument("--quick", action="store_true",
                        help=f"the quick mode: {QUICK} (default name train_throughput_quick)")
    parser.add_argument("--rows", type=int, default=None, help="training rows (real Rotten Tomatoes; default 8000)")
    parser.add_argument("--val-rows", type=int, default=None, help="validation rows (default 1275, the pipeline's)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 32, the default recipe's")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed-steps", type=int, default=4, help="steps for (a), which is ~40x slower")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved runs per variant (default 1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--variants", default=None, help="comma list of a, b, b_bf16, c, c_bf16")
    parser.add_argument("--profile", action="store_true", help="also one torch.profiler run of (c)")
    parser.add_argument("--name", default=None, help="results file bench/results/NAME.json")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else HEADLINE).items():  # what the command line leaves unset
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return {}
    import torch

    from bench.flops import matmul_peak

    if args.smoke:
        args.rows, args.val_rows, args.seed_steps, args.repeats = 32, 16, 1, 1
    from ftpipe.training.device import cpu_supports_bf16

    default = "a,b,b_bf16,c,c_bf16" if torch.cuda.is_available() else "a,b,c,c_bf16" if cpu_supports_bf16() else "a,b,c"
    variants = (args.variants or default).split(",")
    scratch = Path(tempfile.mkdtemp(prefix="bench-train-"))
    try:
        model = model_path(args.smoke, scratch)
        data = rt_subset(args.rows, args.val_rows)
        (scratch / "data.json").write_text(json.dumps(
            {k: {"texts": t, "labels": y.tolist()} for k, (t, y) in data.items()}))
        runs: dict[str, list[dict]] = {v: [] for v in variants}
        peaks = {"fp32": [], "bf16": []}
        for rep in range(args.repeats):
            for variant in variants:  # interleaved, so load drifts hit every variant alike
                spec = {"variant": variant, "model": model, "data": str(scratch / "data.json"), "seed": 42,
                        "batch_size": args.batch_size, "epochs": args.epochs, "seed_steps": args.seed_steps,
                        "threads": args.threads, "scratch": str(scratch / f"{variant}-{rep}")}
                Path(spec["scratch"]).mkdir()
                runs[variant].append(run_worker("bench.train_throughput", spec, worker if args.smoke else None))
                last = runs[variant][-1]
                print(variant, rep, {k: round(v, 3) if isinstance(v, float) else v for k, v in last.items()},
                      flush=True)
            torch.set_num_threads(args.threads)
            device = "cuda" if torch.cuda.is_available() else "cpu"  # the peak of where (c) trained
            size = 256 if args.smoke else 2048
            peaks["fp32"].append(matmul_peak(torch.float32, size=size, device=device))
            # without native bf16 (AVX2) torch emulates it at ~1 GFLOP/s a thread, the same at any size: a 2048²
            # product would take minutes per repeat
            native = bf16_native()
            peaks["bf16"].append(matmul_peak(torch.bfloat16, size=size if native else 256, device=device))
        profile = None
        if args.profile:
            spec = {**spec, "variant": "c", "profile": str(scratch / "profile.txt"), "scratch": str(scratch / "prof")}
            Path(spec["scratch"]).mkdir()
            run_worker("bench.train_throughput", spec, worker if args.smoke else None)
            profile = (scratch / "profile.txt").read_text()
        return report(args, variants, runs, peaks, model, data, profile)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
