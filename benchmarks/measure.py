"""Timing and memory for the benchmark: wall time per stage, time inside named functions, peak RSS.

Peak memory per stage comes from the kernel's high-water mark (``VmHWM``), reset at the start
of each stage through ``/proc/self/clear_refs``, so a stage's figure is its own peak and not
an earlier stage's. Child processes (the data generator, the baselines) are waited for with
``os.wait4`` so each reports its own peak instead of merging into ``RUSAGE_CHILDREN``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _status_kb(name: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return 0


def reset_peak() -> bool:
    """Start a new high-water mark at the current RSS (Linux >= 4.0); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_kb() -> int:
    """Peak RSS since the last ``reset_peak`` (else since the process started)."""
    return _status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@dataclass
class Phase:
    """One measured stretch of work; ``inside`` holds time spent in wrapped functions: the wall
    time during which at least one call was running, so calls overlapping in threads count once."""

    seconds: float = 0.0
    peak_kb: int = 0
    start_kb: int = 0  # RSS when the stage began: what earlier stages left the process holding
    calls: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def own_kb(self) -> int:
        """How far the stage itself raised the process's memory above where it found it."""
        return max(0, self.peak_kb - self.start_kb)

    @property
    def inside(self) -> dict[str, float]:
        out = {}
        for label, spans in self.calls.items():
            total, reach = 0.0, float("-inf")
            for start, end in sorted(spans):
                total += max(0.0, end - max(start, reach))
                reach = max(reach, end)
            out[label] = total
        return out


@contextmanager
def phase() -> Iterator[Phase]:
    result = Phase(start_kb=_status_kb("VmRSS"))
    reset_peak()
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - start
        result.peak_kb = peak_kb()


@contextmanager
def timed_calls(owner: Any, attribute: str, result: Phase, label: str) -> Iterator[None]:
    """Count the time spent in ``owner.attribute`` under ``label`` while the block runs.

    The function is wrapped, not changed: it gets the same arguments and returns the same value.
    """
    original = getattr(owner, attribute)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            result.calls.setdefault(label, []).append((start, time.perf_counter()))

    setattr(owner, attribute, wrapper)
    try:
        yield
    finally:
        setattr(owner, attribute, original)


@dataclass(frozen=True)
class ChildResult:
    output: Any  # the JSON the child printed last
    seconds: float
    peak_kb: int


def run_child(module: str, *args: str) -> ChildResult:
    """Run ``python -m module args`` to completion; its last stdout line is JSON."""
    start = time.perf_counter()
    root = Path(__file__).resolve().parent.parent  # where ``benchmarks`` is importable
    proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, text=True, cwd=root)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"python -m {module} {' '.join(args)} failed with exit code {proc.returncode}")
    return ChildResult(json.loads(out.strip().splitlines()[-1]), seconds, usage.ru_maxrss)
