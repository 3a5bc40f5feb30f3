"""A small closed-loop HTTP/1.1 load generator, used when ``wrk`` is not installed.

``python -m benchmarks._loadgen URL PATH HOSTS_FILE --seconds S --connections C [--method M]
[--headers FILE] [--body FILE]`` prints one JSON object (the fields of
``benchmarks._common.LoadResult``). Each connection is a keep-alive asyncio stream sending one
request at a time, rotating over the hosts in the file, each with the headers and the body.
It runs in its own process; it is slower than ``wrk`` and may be the bottleneck for fast servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from urllib.parse import urlsplit


async def _connection(
    address: tuple[str, int],
    requests: list[bytes],
    offset: int,
    deadline: float,
    latencies: list[float],
    failures: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(*address)
    i = offset
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not status_line.split(b" ")[1].startswith(b"2"):
                failures[1] += 1
    except (OSError, asyncio.IncompleteReadError, IndexError):
        failures[0] += 1
    finally:
        writer.close()


async def _run(
    args: argparse.Namespace, hosts: list[str], extra: str, body: bytes
) -> dict[str, float | int]:
    url = urlsplit(args.url)
    address = (url.hostname or "127.0.0.1", url.port or 80)
    headers = "".join(f"{line}\r\n" for line in extra.splitlines() if line)
    requests = [
        f"{args.method} {args.path} HTTP/1.1\r\nHost: {h}\r\n{headers}"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
        for h in hosts
    ]
    latencies: list[float] = []
    failures = [0, 0]
    started = time.perf_counter()
    deadline = started + args.seconds
    await asyncio.gather(
        *(
            _connection(address, requests, n, deadline, latencies, failures)
            for n in range(args.connections)
        )
    )
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "errors": failures[0],
        "non_2xx": failures[1],
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("path")
    parser.add_argument("hosts")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--headers", default="", help="a file of 'Name: value' lines")
    parser.add_argument("--body", default="", help="a file holding the request body")
    args = parser.parse_args()
    hosts = [h for h in Path(args.hosts).read_text().splitlines() if h]
    extra = Path(args.headers).read_text() if args.headers else ""
    body = Path(args.body).read_bytes() if args.body else b""
    print(json.dumps(asyncio.run(_run(args, hosts, extra, body))))


if __name__ == "__main__":
    main()
