"""The process group of a data-parallel (DDP) training started by `torchrun`, one process per GPU or CPU share.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK in each process it starts. Without them (or with a world of 1)
nothing is initialised and every function here is a no-op, so `python -m stages.train` runs exactly as a
single process always did. Rank 0 is the main process: it alone writes outputs and talks to MLflow.
"""
from __future__ import annotations

import atexit
import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ftpipe.infra.errors import PipelineError

DIGEST_ENV = "FTPIPE_DDP_DIGEST_DIR"  # when set, each rank writes the digest of its final weights there
# when set, a world of 1 still joins a process group and trains in DDP: how one GPU checks the nccl path
# (bench/gpu_check.sh); NCCL refuses two ranks on one GPU
SOLO_ENV = "FTPIPE_DDP_WORLD_OF_ONE"


def launch_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) as torchrun set them; (0, 1, 0) for a plain process."""
    env = os.environ
    return int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))


def rank() -> int:
    return launch_env()[0]


def world_size() -> int:
    return launch_env()[1]


def is_main() -> bool:
    return rank() == 0


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def backend() -> str | None:
    return dist.get_backend() if active() else None


def cpu_share() -> int:
    """CPU threads for this process: the cores split between the processes on this machine."""
    return max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", 1)))


def check_batches(n_rows: int, batch_size: int, world: int | None = None) -> None:
    """Every rank needs at least one batch per epoch, else it would wait forever for the others."""
    world, n_batches = world or world_size(), -(-n_rows // batch_size)
    if world > 1 and n_batches < world:
        raise PipelineError(f"train.batch_size: {world} processes need at least {world} training batches, but "
                            f"{n_rows} rows make {n_batches} of {batch_size}; lower train.batch_size or start "
                            f"fewer processes")


def should_launch(nproc: int) -> bool:
    """`train.nproc` > 1 asks this process to start the workers itself, unless a launcher already did."""
    return nproc > 1 and "WORLD_SIZE" not in os.environ


def launch_checked(nproc: int, batch_size: int, n_rows: int, module: str) -> None:
    """`launch`, after the one-line error for too few batches that no worker should be started for."""
    check_batches(n_rows, batch_size, nproc)
    launch(nproc, module)


def launch(nproc: int, module: str) -> None:
    """Run `python -m <module>` in `nproc` processes on this machine with torchrun's launcher; wait for them.

    This process keeps the workspace lock for its workers (FTPIPE_LOCK_HELD). When a worker fails, the
    launcher stops the others, and its error (printed by the worker) comes with one line from here.
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    os.environ["FTPIPE_LOCK_HELD"] = "1"
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    try:
        run(get_args_parser().parse_args(["--standalone", f"--nproc-per-node={nproc}", "-m", module]))
    except ChildFailedError as exc:
        first, failure = exc.get_first_failure()
        raise PipelineError(f"train.nproc: {len(exc.failures)} of {nproc} processes failed (rank {first} first, exit "
                            f"code {failure.exitcode}); its error is above") from None


def init(device: torch.device) -> torch.device:
    """Join torchrun's process group (nccl on CUDA, else gloo) and return this process's device."""
    r, world, local = launch_env()
    if (world == 1 and not os.environ.get(SOLO_ENV)) or active():
        return device
    if device.type == "cuda":
        torch.cuda.set_device(local)  # one GPU per process, picked by its local rank
        device = torch.device("cuda", local)
    # env:// rendezvous: torchrun exported MASTER_ADDR and MASTER_PORT
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                            device_id=device if device.type == "cuda" else None)
    atexit.register(close)  # however the stage ends
    if r != 0:  # the main process speaks for all; the others only warn
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # no second copy of the model-loading report
        for name in list(logging.root.manager.loggerDict):
            if name.startswith("ftpipe."):
                logging.getLogger(name).setLevel(logging.WARNING)
    return device


def close() -> None:
    if active():
        dist.destroy_process_group()


def shard(batches: list[np.ndarray], rank_: int | None = None, world: int | None = None) -> list[np.ndarray]:
    """This rank's share of the epoch's batch order: disjoint, together covering every row, equal in count.

    Batch i goes to rank i % world, so one step of all ranks sees what `world` single-process steps would.
    The last len % world batches (too few for one per rank) are pooled and cut into `world` parts, so no rank
    waits at an all-reduce for a batch that never comes. Only when those rows are fewer than the ranks are a
    few repeated (as torch's DistributedSampler pads).
    """
    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    if world == 1:
        return batches
    whole = len(batches) - len(batches) % world
    mine = batches[rank_:whole:world]
    if whole < len(batches):
        rest = np.concatenate(batches[whole:])
        if len(rest) < world:
            rest = np.resize(rest, world)
        mine.append(np.array_split(rest, world)[rank_])
    return mine


def wrap(model: nn.Module, device: torch.device, previous: nn.Module | None = None) -> nn.Module:
    """`model` in DistributedDataParallel (the model itself when single-process).

    DDP fixes the set of parameters it averages when it is built, so `previous` (the last wrapper) is kept
    only while the same parameters train; gradual unfreezing or head_only freezing get a new wrapper.
    Every method (full, lora, prompt_tuning, head_only) uses all its trainable parameters in the forward
    pass, so find_unused_parameters (an extra graph walk per step) stays off.
    """
    if not active():
        return model
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    if isinstance(previous, DistributedDataParallel) and getattr(previous, "trainable", None) == trainable:
        return previous
    wrapped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    wrapped.trainable = trainable
    return wrapped


def syncing(net: nn.Module, sync: bool):
    """Around forward and backward: on micro-batches that do not step, skip DDP's gradient all-reduce."""
    return nullcontext() if sync or not isinstance(net, DistributedDataParallel) else net.no_sync()


def _tensor(values: list[float], dtype=torch.float64) -> torch.Tensor:
    device = torch.device("cuda", torch.cuda.current_device()) if backend() == "nccl" else "cpu"
    return torch.tensor(values, dtype=dtype, device=device)


def all_true(flag: bool) -> bool:
    """True only if `flag` is true on every rank (e.g. a finite loss), so all ranks skip a batch together."""
    if not active():
        return flag
    value = _tensor([float(flag)])
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def mean(value: float) -> float:
    """The mean of `value` over the ranks."""
    if not active():
        return value
    total = _tensor([value])
    dist.all_reduce(total)
    return total.item() / dist.get_world_size()


def pool(counters: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """Sum the per-rank counters `keys` over all ranks and return the totals.

    Rank 0 keeps the totals in `counters` and the others restart from 0, so pooling again later (or a
    checkpoint, which rank 0 writes) never counts a batch twice.
    """
    if not active():
        return {k: counters[k] for k in keys}
    summed = _tensor([float(counters[k]) for k in keys])
    dist.all_reduce(summed)
    totals = {k: type(counters[k])(v) for k, v in zip(keys, summed.tolist())}
    counters.update(totals if is_main() else {k: type(counters[k])(0) for k in keys})
    return totals


def broadcast(value: Any) -> Any:
    """Rank 0's `value` on every rank (e.g. its early-stopping decision, so all ranks stop together)."""
    if not active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: Any) -> list[Any] | None:
    """Every rank's `value` in rank order, on every rank; None when single-process."""
    if not active():
        return None
    every = [None] * dist.get_world_size()
    dist.all_gather_object(every, value)
    return every


def barrier() -> None:
    if active():
        dist.barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block before the others (e.g. it removes stale checkpoints before they look)."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def digest(model: nn.Module) -> str:
    """A hash of every weight, to compare replicas."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_replicas(model: nn.Module) -> None:
    """Fail if the ranks' weights drifted apart (DDP keeps them equal); write each rank's digest on request."""
    if not active():
        return
    mine = digest(model)
    if os.environ.get(DIGEST_ENV):
        Path(os.environ[DIGEST_ENV]).mkdir(parents=True, exist_ok=True)
        (Path(os.environ[DIGEST_ENV]) / f"rank-{rank()}.sha256").write_text(mine + "\n")
    every = gather(mine)
    if len(set(every)) > 1:
        raise PipelineError(f"train: the {len(every)} processes ended with different weights ({len(set(every))} "
                            f"distinct); DDP did not keep them in sync: rerun with FTPIPE_VERBOSE=1 and report it")
