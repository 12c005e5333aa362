"""dynalite: a DynamoDB-compatible server on LevelDB (npm), reached by boto3 through ``endpoint_url``."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from libs.devstack.errors import InstallError, StartError
from libs.devstack.probes import dynamodb_answers, wait_until
from libs.devstack.process import DaemonProcess
from libs.devstack.settings import DYNALITE_VERSION

# Our launcher (shared with the image): dynalite's own CLI dies when a client disconnects mid-request.
SERVE_JS = Path(__file__).parent / "images" / "dynalite" / "serve.js"


def install_dynalite(cache_dir: Path, version: str = DYNALITE_VERSION) -> Path:
    """``npm install dynalite@version`` into the cache, once; returns its ``node_modules`` folder."""
    home = cache_dir / "dynalite" / version
    modules = home / "node_modules"
    done = home / ".complete"
    if done.exists():
        return modules
    if shutil.which("npm") is None:
        raise InstallError("npm is needed to install dynalite: apt-get install nodejs npm")
    home.mkdir(parents=True, exist_ok=True)
    (home / "package.json").write_text(json.dumps({"name": "tuneline-dynalite", "private": True}))
    result = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--omit=dev", f"dynalite@{version}"],
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not (modules / "dynalite" / "cli.js").exists():
        raise InstallError(
            f"npm could not install dynalite {version}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    done.write_text(version)
    return modules


def dynalite_args(port: int, data_dir: str | None) -> list[str]:
    """Server flags shared by the process and the container: tables become ACTIVE at once."""
    args = [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--createTableMs",
        "0",
        "--deleteTableMs",
        "0",
        "--updateTableMs",
        "0",
    ]
    if data_dir:
        args += ["--path", data_dir]
    return args


@dataclass(frozen=True)
class DynaliteProcess:
    """dynalite as a local Node.js process, its LevelDB files under ``workdir/data``."""

    modules: Path
    workdir: Path
    port: int = 8000
    node: str = "node"
    die_with_parent: bool = False

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def daemon(self) -> DaemonProcess:
        return DaemonProcess("dynalite", self.workdir)

    def start(self, timeout_s: float = 60.0) -> str:
        if shutil.which(self.node) is None:
            raise StartError("Node.js is needed to run dynalite: apt-get install nodejs")
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        cli = SERVE_JS
        self.daemon.start(
            [self.node, str(cli), *dynalite_args(self.port, str(data))],
            env={"NODE_PATH": str(self.modules)},
            die_with_parent=self.die_with_parent,
        )
        try:
            wait_until(
                lambda: self.daemon.pid() is not None and dynamodb_answers(self.endpoint),
                f"dynalite on {self.endpoint}",
                timeout_s,
                still_alive=lambda: self.daemon.pid() is not None,
            )
        except StartError as exc:
            self.daemon.stop()
            raise StartError(f"{exc}; last log lines:\n{self.daemon.log_tail()}") from None
        return self.endpoint
