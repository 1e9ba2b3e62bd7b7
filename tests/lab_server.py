"""A throw-away JupyterLab server for browser tests: loopback only, a free port, a random
token, its own config, runtime, settings and workspace folders, stopped (with its kernels)
on exit."""
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on the loopback interface that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class LabServer:
    """Where a running server answers, and a small client for its REST API."""

    def __init__(self, process: subprocess.Popen, port: int, token: str, log_path: Path):
        self.process, self.port, self.token, self.log_path = process, port, token, log_path
        self.base_url = f"http://{HOST}:{port}"

    def url(self, path: str) -> str:
        """The browser address of ``path`` (e.g. ``lab/tree/x.ipynb``), token included."""
        return f"{self.base_url}/{path.lstrip('/')}?token={self.token}"

    def api(self, path: str, method: str = "GET", timeout: float = 10):
        """Call ``/api/<path>``; returns the decoded JSON body, or None when there is none."""
        request = urllib.request.Request(f"{self.base_url}/api/{path.lstrip('/')}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's combined stdout/stderr, for failure messages."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-chars:]

    def wait_ready(self, timeout: float) -> None:
        """Block until ``/api/status`` answers; raise if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.api("status", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)   # polling a socket: there is nothing to wait on instead
        raise TimeoutError(f"JupyterLab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def shutdown_kernels(self) -> None:
        """End every session and kernel through the API."""
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", method="DELETE")
        for kernel in self.api("kernels"):
            self.api(f"kernels/{kernel['id']}", method="DELETE")

    def stop(self, timeout: float = 15) -> None:
        """Ask the server to shut down (it ends its kernels), then make sure its process group is gone."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError, urllib.error.URLError):
                self.api("shutdown", method="POST")
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait()
        with contextlib.suppress(ProcessLookupError):   # stray kernels of a killed server
            os.killpg(self.process.pid, signal.SIGKILL)


@contextlib.contextmanager
def jupyterlab(root_dir: Path, state_dir: Path, env: dict | None = None, settings: dict | None = None,
               timeout: float = 60):
    """Run ``jupyter lab`` serving ``root_dir`` and yield a :class:`LabServer` once it answers.

    ``state_dir`` receives the server's config, runtime, settings and workspace folders and
    its log; ``env`` is added to the server's (and so its kernels') environment; ``settings``
    maps ``"<package>:<plugin>"`` to user settings for that JupyterLab plugin.
    """
    state_dir = Path(state_dir)
    settings_dir = state_dir / "lab-settings"
    for plugin_id, values in (settings or {}).items():
        package, plugin = plugin_id.split(":")
        path = settings_dir / package / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(24)
    server_env = {**os.environ, **(env or {}),
                  "JUPYTER_CONFIG_DIR": str(state_dir / "config"),
                  "JUPYTER_RUNTIME_DIR": str(state_dir / "runtime"),
                  "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
                  "JUPYTERLAB_WORKSPACES_DIR": str(state_dir / "lab-workspaces")}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
               f"--ServerApp.ip={HOST}", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--ServerApp.root_dir={root_dir}", f"--IdentityProvider.token={token}",
               # offline and quiet: no news feed, update check or PyPI extension manager
               "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
               "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate"]
    log_path = state_dir / "jupyterlab.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=root_dir, env=server_env, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = LabServer(process, port, token, log_path)
    try:
        server.wait_ready(timeout)
        yield server
    finally:
        server.stop()
