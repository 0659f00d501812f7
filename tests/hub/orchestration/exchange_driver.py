"""The exchange's stages in the order ``hub run`` takes them, without Dagster: what the
crash-safety matrix kills at each point (a ``hub run`` spends seconds orchestrating; the stages
are the same code). ``python -m tests.hub.orchestration.exchange_driver HOME``."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from hub.config import load_config
from hub.home import Home
from hub.marts import MARTS, build_mart
from hub.normalize import apply_pending
from hub.observe.run import RunContext
from hub.publish import deliver, publish_offices
from hub.pull import pull


def run_stages(root: str) -> None:
    home = Home(Path(root))
    config = load_config(home.require_config())
    run = RunContext(config, home, f"driver-{uuid.uuid4().hex}")
    for src in config.sources:
        pull(run, src.name)
    apply_pending(run)
    for mart in MARTS:
        build_mart(run, mart.name)
    for outcome in publish_offices(run, [o.id for o in config.offices]):
        if outcome.error is not None:
            raise outcome.error
    for office in config.offices:
        if office.delivery.sftp is not None:
            deliver(run, office.id)


if __name__ == "__main__":
    run_stages(sys.argv[1])
