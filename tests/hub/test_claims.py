"""Claims on work in progress: one holder at a time, a dead holder's claim free, nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from hub.claims import claimed

HOLD = """
import sys, time
from pathlib import Path
from hub.claims import claimed
with claimed(Path(sys.argv[1]), "normalize", "run-1"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_claim_has_one_holder_and_leaves_no_file(tmp_path: Path) -> None:
    with claimed(tmp_path, "publish", "office-a") as held:
        assert held
        with claimed(tmp_path, "publish", "office-a", wait=False) as again:
            assert not again  # another holder (here, another open of the file) is refused at once
        with claimed(tmp_path, "publish", "office-b", wait=False) as other:
            assert other  # another name is another claim
    with claimed(tmp_path, "publish", "office-a", wait=False) as free:
        assert free
    assert list((tmp_path / "publish").iterdir()) == []


def test_a_waiting_claim_is_held_alone_after_its_holder_removes_the_file(tmp_path: Path) -> None:
    first = claimed(tmp_path, "normalize", "run-1")
    assert first.__enter__()
    waited, release = threading.Event(), threading.Event()
    seen: list[bool] = []

    def wait_for_it() -> None:
        with claimed(tmp_path, "normalize", "run-1") as held:
            seen.append(held)
            waited.set()
            release.wait(10)

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    assert not waited.wait(0.3)  # blocked while the first holds it
    first.__exit__(None, None, None)  # removes the file the waiter is blocked on
    assert waited.wait(10) and seen == [True]
    with claimed(tmp_path, "normalize", "run-1", wait=False) as third:
        assert not third  # the waiter holds the file there now: not a removed one alone
    release.set()
    waiter.join(10)


def test_the_claim_of_a_process_that_died_is_free(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with claimed(tmp_path, "normalize", "run-1", wait=False) as held:
            assert not held
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # no cleanup: its file stays, unlocked
        holder.wait()
    assert len(list((tmp_path / "normalize").iterdir())) == 1
    with claimed(tmp_path, "normalize", "run-1", wait=False) as held:
        assert held
    assert list((tmp_path / "normalize").iterdir()) == []
