#!/usr/bin/env bash
# Issue 15's GPU checks in one command, at most 8 minutes on one GPU (an H200). Run from the repo root:
#   pipeline_fp16  the default pipeline on CUDA on a 2,000-row cut (data.max_rows), every stage (`dvc repro`), fp16
#   pipeline_bf16  the same in bf16 (train and evaluate rerun)
#   precision_auto train.precision=auto must resolve to bf16 on the GPU
#   ddp            train as a 1-process DDP run over nccl (torchrun; FTPIPE_DDP_WORLD_OF_ONE makes a world of one
#                  join a process group, as NCCL refuses two ranks on one GPU)
#   bench          the train benchmark on CUDA: (a), (b), (b) bf16, (c), (c) bf16 on 2,000 rows, one repeat
# Everything runs in a scratch copy of the project (ftpipe.experiments.workspace.copy_project): the workspace is
# untouched. Each part's log, the pipeline's metrics and the benchmark's json go to $OUT (else bench/results/gpu/),
# with summary.json (each part's exit code and seconds). Exits 1 if any part failed, 2 if it cannot start.
#
#   bash bench/gpu_check.sh                  # the GPU machine: needs .venv (or PY=...) and a CUDA device
#   bash bench/gpu_check.sh --dry-run        # print the commands, run nothing
#   bash bench/gpu_check.sh --cpu-rehearsal  # the same steps on CPU (fp32, gloo, 300 rows, smoke bench): checks
#                                            # the script itself where there is no GPU (a few minutes)
set -uo pipefail

MODE=gpu
case "${1:-}" in
  "") ;;
  --dry-run) MODE=dry ;;
  --cpu-rehearsal) MODE=cpu ;;
  *) echo "error: unknown option '$1'; use --dry-run, --cpu-rehearsal or nothing" >&2; exit 2 ;;
esac

ROOT=$(pwd)
if [[ ! -f "$ROOT/dvc.yaml" || ! -d "$ROOT/bench" ]]; then
  echo "error: run bench/gpu_check.sh from the repository root (no dvc.yaml or bench/ in $ROOT)" >&2; exit 2
fi
PY=${PY:-$ROOT/.venv/bin/python}
if [[ ! -x "$PY" ]]; then
  echo "error: no Python at $PY; create the venv (make setup) or set PY=/path/to/python" >&2; exit 2
fi
export PATH="$(dirname "$PY"):$PATH"  # dvc and torchrun from the same venv
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false DVC_NO_ANALYTICS=1
unset MLFLOW_TRACKING_URI FTPIPE_PARAMS PYTHONPATH  # the copy imports its own code and logs to its own mlflow.db

if [[ $MODE != cpu ]]; then  # a dry run prints the GPU commands
  ROWS=2000 DEVICE=cuda FIRST=fp16 SECOND=bf16 BACKEND=nccl
  # latency figures are not what this checks: compress measures 8 builds on CPU, one thread, each in its own
  # process unless isolate=false (the rehearsal ran past its cap there)
  TRIM=(compress.latency.repeats=5 compress.latency.max_test_rows=64 compress.latency.isolate=false)
  BENCH=(--rows 2000 --repeats 1 --variants a,b,b_bf16,c,c_bf16)
  if [[ $MODE == gpu ]] && ! "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    echo "error: no CUDA device visible to $PY; use --cpu-rehearsal to check the script on CPU" >&2; exit 2
  fi
else
  ROWS=300 DEVICE=cpu FIRST=fp32 SECOND=fp32 BACKEND=gloo  # fp16 needs CUDA; bf16 may be refused on this CPU
  TRIM=(train.epochs=1 compress.latency.repeats=2 compress.latency.warmup=1 compress.latency.max_test_rows=16
        compress.latency.isolate=false compress.distill.max_train_rows=200)
  BENCH=(--smoke --variants b,b_bf16,c)
fi

OUT=${OUT:-$ROOT/bench/results/gpu}
[[ $MODE == dry ]] && OUT=$(mktemp -d)  # a dry run writes nothing where results go
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/ftpipe-gpu-check-XXXXXX")
trap 'rm -rf "$SCRATCH"; [[ $MODE == dry ]] && rm -rf "$OUT"' EXIT
P=$SCRATCH/project
DEADLINE=$((SECONDS + 470))  # the whole run stays under 8 minutes; a part gets what is left, at most its cap
: >"$OUT/gpu_check.log"
declare -a NAMES=() CODES=() TIMES=()

part() {  # part NAME CAP_SECONDS COMMAND: run COMMAND (a bash string) with a time cap; output in $OUT/NAME.log
  local name=$1 cap=$2 cmd=$3 left=$((DEADLINE - SECONDS)) start=$SECONDS rc
  (( left < cap )) && cap=$left
  echo "== $name (cap ${cap}s): $cmd" | tee -a "$OUT/gpu_check.log"
  if [[ $MODE == dry ]]; then return 0; fi
  if (( cap < 5 )); then
    rc=124; echo "no time left in the 8 minutes" >"$OUT/$name.log"
  else
    timeout "$cap" bash -c "$cmd" >"$OUT/$name.log" 2>&1; rc=$?
  fi
  NAMES+=("$name"); CODES+=("$rc"); TIMES+=($((SECONDS - start)))
  echo "   $name: exit $rc after $((SECONDS - start))s$([[ $rc == 124 ]] && echo ' (time cap)')" \
    | tee -a "$OUT/gpu_check.log"
  [[ $rc == 0 ]] || tail -n 5 "$OUT/$name.log" | sed 's/^/   | /' | tee -a "$OUT/gpu_check.log"
}

# the precision metrics/train.json recorded must be the one asked for
expect_precision='python -c "import json, sys; got = json.load(open(\"metrics/train.json\"))[\"precision\"]; '\
'sys.exit(0 if got == sys.argv[1] else f\"error: trained in {got}, expected {sys.argv[1]}\")"'
keep_metrics='mkdir -p "$OUT/$1" && cp -r metrics "$OUT/$1/" && cp params.yaml "$OUT/$1/"'
compose="python -m ftpipe.config.compose data.max_rows=$ROWS train.device=$DEVICE mlflow.log_model=false ${TRIM[*]}"
export OUT

part copy 60 "cd '$ROOT' && '$PY' -c 'import sys; from pathlib import Path; from ftpipe.experiments.workspace \
import copy_project; copy_project(Path(sys.argv[1]))' '$P'"

part "pipeline_1_$FIRST" 210 "cd '$P' && $compose train.precision=$FIRST && dvc repro \
&& $expect_precision $FIRST && set -- pipeline_1_$FIRST && $keep_metrics"

part "pipeline_2_$SECOND" 90 "cd '$P' && $compose train.precision=$SECOND && dvc repro evaluate \
&& $expect_precision $SECOND && set -- pipeline_2_$SECOND && $keep_metrics"

# on the GPU auto must give bf16 (an H200 has it); in the rehearsal, whatever this CPU's probe says
part precision_auto 30 "cd '$P' && python -c 'import sys, torch; from omegaconf import OmegaConf; \
from ftpipe.training.device import cpu_supports_bf16, pick_device, precision_name; \
name = precision_name(pick_device(OmegaConf.create({\"device\": \"auto\", \"precision\": \"auto\"}))[1]); \
want = \"bf16\" if torch.cuda.is_available() or cpu_supports_bf16() else \"fp32\"; print(\"auto ->\", name); \
sys.exit(0 if name == want else f\"error: auto resolved to {name}, expected {want}\")'"

# a finished run's checkpoint would be resumed (same fingerprint) and nothing trained: start afresh
part ddp 90 "cd '$P' && rm -rf models/checkpoints digests && FTPIPE_DDP_WORLD_OF_ONE=1 \
FTPIPE_DDP_DIGEST_DIR=digests torchrun --standalone --nproc_per_node=1 -m stages.train && test -s digests/rank-0.sha256 \
&& python -c 'import sys, mlflow; mlflow.set_tracking_uri(\"sqlite:///mlflow.db\"); \
run = mlflow.search_runs(experiment_names=[\"finetune\"], order_by=[\"start_time DESC\"], max_results=1); \
got = run[\"tags.train.backend\"][0]; print(\"backend\", got); \
sys.exit(0 if got == sys.argv[1] else f\"error: trained over {got}, expected {sys.argv[1]}\")' $BACKEND \
&& set -- ddp && $keep_metrics"

part bench 180 "cd '$ROOT' && FTPIPE_BENCH_RESULTS='$OUT/bench' '$PY' -m bench.train_throughput ${BENCH[*]}"

[[ $MODE == dry ]] && exit 0
failed=0
for i in "${!NAMES[@]}"; do [[ ${CODES[$i]} == 0 ]] || failed=1; done
"$PY" - "$OUT/summary.json" "$MODE" "${#NAMES[@]}" "${NAMES[@]}" "${CODES[@]}" "${TIMES[@]}" <<'EOF'
import json, sys, time
path, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
names, codes, seconds = sys.argv[4:4 + n], sys.argv[4 + n:4 + 2 * n], sys.argv[4 + 2 * n:4 + 3 * n]
parts = {name: {"exit": int(c), "seconds": int(s)} for name, c, s in zip(names, codes, seconds)}
json.dump({"mode": mode, "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "parts": parts,
           "passed": all(p["exit"] == 0 for p in parts.values())}, open(path, "w"), indent=2)
EOF
echo "results in $OUT; $([[ $failed == 0 ]] && echo 'every part passed' || echo 'some part FAILED')" \
  | tee -a "$OUT/gpu_check.log"
exit $failed
