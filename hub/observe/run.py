"""One run of the exchange as every stage sees it: the config, the home and the run id, and
the one way a stage records itself (its audit entry and its OpenLineage START, COMPLETE or
FAIL) and tells how far it is (``progress``), so a stage's body shows only its data flow."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from openlineage.client.event_v2 import InputDataset, OutputDataset

from hub.config import HubConfig
from hub.home import Home
from hub.observe import audit, lineage

PROGRESS = logging.getLogger("hub.progress")
"""Where long work says how far it is: Dagster shows it in the run's logs (``dagster.yaml``
manages this logger), and ``hub run`` prints it on the terminal."""


@dataclass
class Stage:
    """What a running stage reports: the datasets it wrote (for lineage) and ``details``, its
    progress so far, audited with its outcome."""

    events: lineage.Stage
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def outputs(self) -> list[OutputDataset]:
        return self.events.outputs

    @outputs.setter
    def outputs(self, datasets: list[OutputDataset]) -> None:
        self.events.outputs = datasets


@dataclass(frozen=True)
class RunContext:
    """The config, home and run id every stage of one run shares."""

    config: HubConfig
    home: Home
    run_id: str

    def progress(self, message: str) -> None:
        """How far a long stage is (rows pulled, chunks applied, offices published)."""
        PROGRESS.info(message)

    def record(self, event: str, *, subject: str, **details: Any) -> dict[str, Any]:
        """Append an audit entry under this run and the config in force."""
        return audit.record(self.home.audit, self.config, event, run_id=self.run_id, subject=subject, **details)

    @contextmanager
    def stage(
        self, job: str, inputs: list[InputDataset], *, audit_as: tuple[str, str] | None = None,
        audit_success: bool = True,
    ) -> Iterator[Stage]:
        """Run a stage as OpenLineage job ``job`` reading ``inputs``. With ``audit_as``
        (event, subject), a failure is audited as that event with ``status: failed``, the error
        and the stage's ``details``; so is a success (``status: ok``, unless the details name
        another) unless ``audit_success`` is off, for stages that audit each thing they finish
        themselves."""
        with lineage.stage(self.config, self.home, job, self.run_id, inputs) as events:
            stage = Stage(events)
            try:
                yield stage
            except Exception as exc:
                if audit_as is not None:
                    self.record(audit_as[0], subject=audit_as[1], status="failed",
                                error=str(exc) or type(exc).__name__, **stage.details)
                raise
            if audit_as is not None and audit_success:
                self.record(audit_as[0], subject=audit_as[1], **({"status": "ok"} | stage.details))
