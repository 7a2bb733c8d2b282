"""Benchmarks the data endpoint: ingest rate on one core, tail latency over 1M records, peak RSS.

Run standalone from the repository root (a few minutes):

    .venv/bin/python bench/dataendpoint_bench.py [--records 1000000] [--ingest 100000]

It starts a private rabbitmq-server (tests/support/rabbitmq.py) and the endpoint as its container
runs it (`python -m vwclass.dataendpoint`), pinned to one CPU, the broker to another.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pika

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # a script, not a test: make `tests.support` importable

from tests.support.rabbitmq import RabbitMQ, running_rabbitmq  # noqa: E402
from vwclass.dataendpoint.messages import Message  # noqa: E402
from vwclass.dataendpoint.store import Record, Writer  # noqa: E402

NS = 1_000_000_000
ENDPOINT_CPU = 1
BROKER_CPU = 0


def pin(pid: int, cpu: int) -> None:
    if cpu >= (os.cpu_count() or 1):
        return
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task.name), {cpu})


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_endpoint(rabbitmq: RabbitMQ, workdir: Path, mode: str, port: int, db: Path) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "VWCLASS_DATA_MODE": mode,
        "VWCLASS_DATA_RABBITMQ_HOST": rabbitmq.host,
        "VWCLASS_DATA_RABBITMQ_PORT": str(rabbitmq.amqp_port),
        "VWCLASS_DATA_RABBITMQ_PASSWORD": rabbitmq.credentials.service,
        "VWCLASS_DATA_DB_PATH": str(db),
        "VWCLASS_DATA_UPLOAD_DIR": str(workdir / "uploads"),
        "VWCLASS_DATA_LISTEN_HOST": "127.0.0.1",
        "VWCLASS_DATA_LISTEN_PORT": str(port),
        "VWCLASS_DATA_LOG_LEVEL": "warning",
    }
    # The child keeps its own copy of the descriptor; ours can close once it runs.
    with open(workdir / f"endpoint-{mode}.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "vwclass.dataendpoint"],
            env=env,
            stdout=log,
            stderr=log,
            preexec_fn=lambda: (
                os.sched_setaffinity(0, {ENDPOINT_CPU}) if (os.cpu_count() or 1) > ENDPOINT_CPU else None
            ),
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"endpoint did not start; see {workdir}")


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    return 0.0


def bench_ingest(rabbitmq: RabbitMQ, workdir: Path, mode: str, count: int, port: int) -> tuple[float, float]:
    """Fills the queue first, then times the endpoint draining it into the store."""
    rabbitmq.purge()
    base = time.time_ns() - 3600 * NS
    user = "plugin" if mode == "validator" else "service"
    with rabbitmq.channel(user) as channel:
        for i in range(count):
            meta = {"sensor": f"s{i % 10}"}
            if mode == "beehive":
                meta.update(node="0000000000000001", vsn="W001", plugin="bench:1.0", task="bench", job="sage")
            body = json.dumps(
                {"name": f"env.m{i % 5}", "ts": base + i, "meta": meta, "val": i * 0.5}, separators=(",", ":")
            )
            if mode == "validator":
                channel.basic_publish(
                    "to-validator", "all", body, pika.BasicProperties(delivery_mode=2, user_id="plugin")
                )
            else:
                channel.basic_publish("to-beehive", f"env.m{i % 5}", body, pika.BasicProperties(delivery_mode=2))
    process = start_endpoint(rabbitmq, workdir, mode, port, workdir / f"ingest-{mode}.sqlite3")
    try:
        first: tuple[float, float] | None = None
        while True:
            stored = metric(port, "vwclass_dataendpoint_records_stored_total")
            now = time.monotonic()
            if first is None and stored > 0:
                first = (now, stored)
            if stored >= count:
                break
            time.sleep(0.02)
        assert first is not None
        rate = (stored - first[1]) / max(now - first[0], 1e-9)
        return rate, peak_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


def fill_store(db: Path, records: int) -> int:
    """Writes `records` records over 100 series (10 names x 10 sensors), as the endpoint would."""
    writer = Writer(db, max_series=100_000)
    base = time.time_ns() - 30 * 86400 * NS
    per_series = records // 100
    batch: list[Record] = []
    step = 30 * 86400 * NS // per_series
    for i in range(per_series):
        for name in range(10):
            for sensor in range(10):
                meta = {"node": "0000000000000001", "vsn": "W001", "plugin": "bench:1.0", "sensor": f"s{sensor}"}
                batch.append(Record(Message(f"env.m{name}", base + i * step + sensor, float(i), meta)))
        if len(batch) >= 10000:
            writer.write(batch, [])
            batch = []
    if batch:
        writer.write(batch, [])
    count = int(writer.conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])
    writer.close()
    return count


def time_query(port: int, document: dict[str, object], repeat: int) -> tuple[float, float, int, int]:
    timings, lines, size = [], 0, 0
    for _ in range(repeat):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/query", json.dumps(document).encode())
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as response:
            body = response.read()
        timings.append(time.perf_counter() - started)
        lines, size = body.count(b"\n"), len(body)
    timings.sort()
    p95 = timings[min(len(timings) - 1, int(len(timings) * 0.95))]
    return statistics.median(timings) * 1000, p95 * 1000, lines, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="records in the query benchmark store")
    parser.add_argument("--ingest", type=int, default=100_000, help="messages in each ingest run")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; endpoint pinned to CPU {ENDPOINT_CPU}")

    with (
        tempfile.TemporaryDirectory(prefix="vwclass-bench-") as tmp,
        running_rabbitmq(None, Path(tmp) / "rabbitmq") as rabbitmq,
    ):
        workdir = Path(tmp)
        (workdir / "uploads").mkdir()
        pin(rabbitmq._server.pid, BROKER_CPU)
        port = 18000 + os.getpid() % 1000

        for mode in ("beehive", "validator"):
            rate, rss = bench_ingest(rabbitmq, workdir, mode, args.ingest, port)
            print(
                f"ingest {mode:9s}: {rate:8.0f} records/s on one core "
                f"({args.ingest} messages, batches committed with synchronous=FULL); peak RSS {rss:.1f} MB"
            )

        db = workdir / "query.sqlite3"
        started = time.monotonic()
        count = fill_store(db, args.records)
        print(
            f"store: {count} records in 100 series written in {time.monotonic() - started:.1f}s, "
            f"{db.stat().st_size / 1e6:.0f} MB on disk"
        )
        rabbitmq.purge()
        process = start_endpoint(rabbitmq, workdir, "beehive", port, db)
        try:
            queries: list[tuple[str, dict[str, object], int]] = [
                ("tail=1, all 100 series", {"start": "-60d", "tail": 1}, 20),
                ("tail=100, name exact (10 series)", {"start": "-60d", "tail": 100, "filter": {"name": "env.m3"}}, 20),
                (
                    "tail=10, name wildcard + meta",
                    {"start": "-60d", "tail": 10, "filter": {"name": "env.*", "sensor": "s1|s2"}},
                    20,
                ),
                ("head=10, start -7d", {"start": "-7d", "head": 10}, 20),
                ("one series, all records", {"start": "-60d", "filter": {"name": "env.m0", "sensor": "s0"}}, 5),
                ("everything (streamed)", {"start": "-60d"}, 1),
            ]
            for label, document, repeat in queries:
                median, p95, lines, size = time_query(port, document, repeat)
                print(
                    f"query {label:34s}: median {median:8.1f} ms, p95 {p95:8.1f} ms "
                    f"({lines} records, {size / 1e6:.1f} MB)"
                )
            print(
                f"endpoint peak RSS over the query run (incl. streaming {count} records): "
                f"{peak_rss_mb(process.pid):.1f} MB"
            )
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
