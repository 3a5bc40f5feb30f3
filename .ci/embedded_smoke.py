"""CI smoke test of the embedded path: start on pgserver, answer one request on a tenant host, stop.

Runs `whitelabel demo` as a newcomer would (no DATABASE_URL), in a throw-away data dir.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="whitelabel-smoke-"))
    port = free_port()
    dropped = ("DATABASE_URL", "WHITELABEL_SECRET_KEY")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["WHITELABEL_DATA_DIR"] = str(data_dir / "data")
    bin_dir = Path(sys.executable).parent
    proc = subprocess.Popen(
        [str(bin_dir / "whitelabel"), "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/", headers={"host": f"campus.localhost:{port}"}
                )
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    print(proc.stdout.read() if proc.stdout else "", file=sys.stderr)
                    print("the demo server did not come up", file=sys.stderr)
                    return 1
                time.sleep(0.3)
        ok = response.status_code == 200 and "Northfield University" in response.text
        print(f"GET campus.localhost/ -> {response.status_code}; tenant page ok: {ok}")
        return 0 if ok else 1
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        from whitelabel.db.embedded import stop_embedded

        stop_embedded(data_dir / "data")
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
