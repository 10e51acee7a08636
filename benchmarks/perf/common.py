"""What every benchmark shares: the machine description, a peak-RSS sampler, Ray start-up, JSON output."""

from __future__ import annotations

import json
import os
import platform
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

MB = 1024**2


def machine() -> dict[str, Any]:
    """Recorded with every result: a ratio means little without the machine and how busy it was."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus_logical": psutil.cpu_count(logical=True),
        "cpus_physical": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
    }
    try:
        import ray

        info["ray"] = ray.__version__
    except ImportError:  # pragma: no cover - ray is a dependency
        pass
    return info


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / MB


class PeakRss:
    """Samples this process's RSS every `interval` seconds while the block runs (the driver's peak).

    `cpu_s` is the sampler's own CPU time, to subtract from the driver's: it is the benchmark's, not the driver's.
    """

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.start_mb = 0.0
        self.peak_mb = 0.0
        self.cpu_s = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakRss:
        self.start_mb = self.peak_mb = rss_mb()
        self._thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        process = psutil.Process()
        started = time.thread_time()
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, process.memory_info().rss / MB)
        self.cpu_s = time.thread_time() - started

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_mb = max(self.peak_mb, rss_mb())

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.start_mb


def ensure_ray(address: str | None = None, num_cpus: int = 16) -> bool:
    """Start a local Ray (or join `address`) unless one is up; True when this call started it.

    `num_cpus` is logical: the checker actors ask for 0 CPUs, the number only bounds worker start-up.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, object_store_memory=256 * MB, include_dashboard=False, log_to_driver=False)
    return True


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs (0 with fewer than two distinct xs)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def result(name: str, params: dict[str, Any], **values: Any) -> dict[str, Any]:
    """The JSON object a benchmark returns: its name, when, the command line, the machine, the parameters."""
    return {
        "benchmark": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": machine(),
        "params": params,
        **values,
    }


def skipped(name: str, params: dict[str, Any], reason: str) -> dict[str, Any]:
    return result(name, params, skipped=True, reason=reason)


def write_json(data: dict[str, Any], out: Path | None) -> Path:
    """Write to `out`, or DATA_DIR/bench/NAME-STAMP.json, for tracking results over time."""
    if out is None:
        from isabelle_env.user_dirs import data_dir

        out = data_dir() / "bench" / f"{data['benchmark']}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return out
