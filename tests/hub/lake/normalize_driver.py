"""One normalize step in its own process, started at a signal, for the concurrency tests:
``python -m tests.hub.lake.normalize_driver HOME GO_FILE`` prints the batch ids it applied."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

from hub.config import load_config
from hub.home import Home
from hub.normalize import apply_pending
from hub.normalize.warehouse import Warehouse
from hub.observe import audit
from hub.observe.run import RunContext


def main(root: str, go: str) -> None:
    home = Home(Path(root))
    config = load_config(home.config)
    Warehouse.open(config, home).con.close()  # the schema exists before the race starts
    while not Path(go).exists():  # both processes imported and ready: start together
        time.sleep(0.01)
    run = RunContext(config, home, f"race-{uuid.uuid4().hex[:8]}")
    apply_pending(run)
    mine = [e["details"]["batch_id"] for e in audit.entries(home.audit)
            if e["event"] == "apply" and e["run_id"] == run.run_id]
    print(json.dumps(mine))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
