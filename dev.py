#!/usr/bin/env python3
"""One entry point for a fresh checkout: ``python3 dev.py demo`` or ``python3 dev.py test``.

Needs only Python 3.11+ and git. It creates ``.venv`` (once), installs the locked dependencies
(``requirements.lock``, hash-checked) and whitelabel itself in editable mode, then runs:

* ``demo [args]``  - ``whitelabel demo`` on the embedded PostgreSQL (no database to install);
* ``test [args]``  - the whole test suite (embedded PostgreSQL unless ``DATABASE_URL`` is set;
  with ``DATABASE_URL``, in one worker process per core, each on a database of its own);

When ``npm`` is on the PATH, ``demo`` and ``test`` also install the npm packages of the real
protocol peers (``tests/peers/package-lock.json``: a SAML IdP and an OpenID Provider that the SSO
tests and the demo's identity provider run on loopback).
* ``lint``         - ruff and mypy --strict, as CI runs them;
* ``run CMD ...``  - any command inside the environment (``python3 dev.py run whitelabel --help``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
LOCK = ROOT / "requirements.lock"
STAMP = VENV / ".whitelabel-installed"
PEERS = ROOT / "tests" / "peers"
PEERS_STAMP = PEERS / "node_modules" / ".whitelabel-installed"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for path in (LOCK, ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_env() -> None:
    """Create the virtual environment and install the locked dependencies when they changed."""
    if sys.version_info < (3, 11):
        sys.exit("whitelabel needs Python 3.11 or newer")
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    print("installing locked dependencies ...", flush=True)
    subprocess.run([*pip, "install", "--require-hashes", "-r", str(LOCK)], check=True)
    subprocess.run([*pip, "install", "--no-deps", "-e", str(ROOT)], check=True)
    STAMP.write_text(_fingerprint())


def ensure_peers() -> None:
    """Install the peers' npm packages from their lock file when it changed (needs npm)."""
    lock = PEERS / "package-lock.json"
    npm = shutil.which("npm")
    if npm is None or not lock.exists():
        return
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    if PEERS_STAMP.exists() and PEERS_STAMP.read_text() == digest:
        return
    print("installing the test peers' npm packages ...", flush=True)
    command = [npm, "ci", "--prefix", str(PEERS), "--no-audit", "--no-fund", "--loglevel=error"]
    subprocess.run(command, check=True)
    PEERS_STAMP.write_text(digest)


def run(*command: str) -> int:
    """Run ``command`` with the environment's ``bin`` first on PATH."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("PYTHONHOME", None)
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    ensure_env()
    task, rest = argv[0], argv[1:]
    if task == "demo":
        ensure_peers()
        return run(str(BIN / "whitelabel"), "demo", *rest)
    if task == "test":
        ensure_peers()
        # On a server each pytest-xdist worker gets a database of its own (tests/conftest.py);
        # the embedded server has one test database, so it runs in one process.
        parallel = ["-n", "auto"] if os.environ.get("DATABASE_URL") and "-n" not in rest else []
        return run(str(BIN / "python"), "-m", "pytest", *parallel, *rest)
    if task == "lint":
        return run(str(BIN / "ruff"), "check", ".") or run(str(BIN / "mypy"))
    if task == "run":
        return run(*rest)
    print(f"unknown task {task!r}; see: python3 dev.py --help", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
