"""Many sources pulled at once: one step pulls every selected source of a record type in
threads, so a run costs what its sources take to answer, not a scheduler step per source.
Connections to one server are bounded (``hub.pull_per_host``), so a province's courts sharing
a database server or an SFTP host are not all opened at the same moment."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from hub.config import DatabaseSource, HubConfig, Source
from hub.errors import RETRY_WAITS, HubError, Transient
from hub.home import Home
from hub.observe.run import RunContext
from hub.pull.stage import PullResult, pending_files, pull

T = TypeVar("T")


@dataclass(frozen=True)
class SourceOutcome:
    """One source's pull in a sweep: what landed, or the error of its last attempt."""

    source: str
    result: PullResult | None
    error: HubError | None
    attempts: int

    def describe_error(self) -> str:
        """The error, after the source's name (which a connector's message starts with already)."""
        text = str(self.error)
        tries = f" (gave up after {self.attempts} attempts)" if isinstance(self.error, Transient) else ""
        return f"{'' if text.startswith(f'{self.source}: ') else f'{self.source}: '}{text}{tries}"


def server_of(src: Source) -> str:
    """The server a source's pull connects to: what ``hub.pull_per_host`` bounds."""
    if isinstance(src, DatabaseSource):
        parts = urlsplit(src.database.url)
        return f"{parts.scheme.split('+')[0]}://{parts.hostname or parts.path}:{parts.port or ''}"
    return f"sftp://{src.sftp.host}:{src.sftp.port}"


def each_source(config: HubConfig, names: list[str], fn: Callable[[str], T]) -> list[T]:
    """``fn`` of each named source, ``hub.pull_threads`` at a time and at most
    ``hub.pull_per_host`` on one server; the results in the order of ``names``."""
    settings = config.hub
    servers = {name: server_of(config.source(name)) for name in names}
    gates = {server: threading.BoundedSemaphore(settings.pull_per_host) for server in set(servers.values())}

    def gated(name: str) -> T:
        with gates[servers[name]]:
            return fn(name)

    if len(names) <= 1:  # a sync of one source: no thread to start
        return [gated(n) for n in names]
    with ThreadPoolExecutor(max_workers=min(settings.pull_threads, len(names)), thread_name_prefix="pull") as pool:
        return list(pool.map(gated, names))


def pull_sources(run: RunContext, names: list[str], *, warn: Callable[[str], None] = lambda _: None,
                 waits: tuple[float, ...] = RETRY_WAITS) -> list[SourceOutcome]:
    """Pull each named source (``pull``, through ``each_source``); a transient failure is tried
    again after each of ``waits`` (``warn`` told why, the server's slot let go meanwhile), a
    terminal one given up at once. One source's failure never stops the others: every outcome
    comes back, in the order of ``names``."""
    def one(name: str, attempt: int) -> SourceOutcome:
        try:
            return SourceOutcome(name, pull(run, name), None, attempt)
        except HubError as exc:
            return SourceOutcome(name, None, exc, attempt)

    outcomes: dict[str, SourceOutcome] = {}
    todo = list(names)
    for attempt in range(1, len(waits) + 2):
        for outcome in each_source(run.config, todo, lambda name: one(name, attempt)):  # noqa: B023 (called now)
            outcomes[outcome.source] = outcome
        todo = [o.source for o in outcomes.values() if isinstance(o.error, Transient) and o.attempts == attempt]
        if not todo or attempt > len(waits):
            break
        wait = waits[attempt - 1]
        for name in todo:
            warn(f"{name}: attempt {attempt} of {len(waits) + 1} failed ({outcomes[name].error}); "
                 f"trying again in {wait:g} s")
        time.sleep(wait)
    return [outcomes[n] for n in names]


def pending_by_source(config: HubConfig, home: Home, names: list[str]) -> dict[str, list[dict[str, Any]] | HubError]:
    """Each named SFTP drop's stable files not landed yet (``pending_files``), or why they could
    not be listed, through ``each_source``: what a sensor asks every minute."""
    def one(name: str) -> list[dict[str, Any]] | HubError:
        try:
            return pending_files(config, home, name)
        except HubError as exc:
            return exc

    return dict(zip(names, each_source(config, names, one), strict=True))
