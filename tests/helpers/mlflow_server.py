"""A real `mlflow server` for tests: started on a free loopback port in its own process group, stopped by pid."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# the admin account of a server started with auth=True (MLflow's basic-auth app), as docs/team.md shows
ADMIN = ("admin", "a-test-password-1234")


@contextmanager
def mlflow_server(db: Path, workdir: Path, proxied_artifacts: Path | None = None, auth: bool = False
                  ) -> Iterator[str]:
    """Yield the base URL of a server on the sqlite `db`, on loopback. With `proxied_artifacts`, clients upload
    artefacts through the server (`--artifacts-destination`), as a team's server does; else to a local artifact
    root. With `auth`, MLflow's basic-auth app asks every client for a user (ADMIN) and password."""
    port = free_port()
    artifacts = (["--artifacts-destination", proxied_artifacts.as_uri()] if proxied_artifacts else
                 ["--default-artifact-root", (workdir / "mlartifacts").as_uri()])
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{db}", *artifacts,
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           *(["--app-name", "basic-auth"] if auth else [])]
    env = dict(os.environ)
    if auth:
        config = workdir / "basic_auth.ini"
        config.write_text(f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{workdir}/basic_auth.db\n"
                          f"admin_username = {ADMIN[0]}\nadmin_password = {ADMIN[1]}\n"
                          f"authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(config)
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = "a-test-csrf-secret"  # the auth app's forms need a fixed key
    with open(workdir / "server.log", "wb") as log:
        # own process group: `mlflow server` forks a uvicorn worker, and both must go at the end
        proc = subprocess.Popen(cmd, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_health(proc, base, workdir)
        yield base
    finally:
        stop(proc)
    assert proc.poll() is not None


def wait_health(proc: subprocess.Popen, url: str, workdir: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited {proc.returncode}: "
                               + (workdir / "server.log").read_text()[-2000:])
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow server gave no /health in {timeout:.0f} s: "
                       + (workdir / "server.log").read_text()[-2000:])


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
