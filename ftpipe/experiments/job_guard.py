"""`python -m ftpipe.experiments.job_guard CMD...`: run one sweep job's command, and stop it if the sweep is gone.

run_job_process starts this as the leader of the job's own process group. When the process that started it
disappears without a word (a Ray or joblib worker killed as its driver exits, a driver killed with SIGKILL),
it sends the group SIGINT, so the job's stages end their MLflow runs as on Ctrl-C, then SIGKILL after a
grace period: a job never trains on for a sweep that no longer exists.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

POLL_S = 1.0
GRACE_S = 30.0


def _job_gets_sigint() -> None:
    # an ignored SIGINT would survive exec; the guard ignores it, the job must not
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def main(cmd: list[str]) -> int:
    owner = os.getppid()
    # the sweep forwards Ctrl-C to the whole group; that is for the job, the guard just waits for it to end
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Ray starts its workers with SIGINT blocked, and a blocked signal stays blocked across fork and exec
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    job = subprocess.Popen(cmd, preexec_fn=_job_gets_sigint)
    while True:
        try:
            code = job.wait(timeout=POLL_S)
            return code if code >= 0 else 128 - code
        except subprocess.TimeoutExpired:
            if os.getppid() != owner:   # orphaned: re-parented to init or a subreaper
                break
    print(f"job_guard: the sweep process {owner} is gone; stopping the job", file=sys.stderr, flush=True)
    os.killpg(0, signal.SIGINT)
    try:
        job.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(0, signal.SIGKILL)   # the guard goes with it
    return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
