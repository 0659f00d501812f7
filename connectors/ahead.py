"""``ahead``: a connector's batches produced one step ahead of the caller, in a thread.

The caller lands each batch (Parquet, zstd, sha256, fsync: no GIL) while the next one is
read and parsed (a COPY page, a piece of a file), so the two overlap on two cores instead of
taking turns. Everything the connector does, its connection and its errors, stays in the
producing thread; errors are raised again to the caller unchanged.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

_END = object()
T = TypeVar("T")


def ahead(items: Iterator[T]) -> Iterator[T]:
    """``items``, each produced while the caller still works on the one before (at most one
    waits, so memory stays bounded). When the caller stops early, the producer stops at its
    next item and closes ``items`` in its own thread."""
    handoff: queue.Queue[tuple[object, Exception | None]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                handoff.put((item, None))
                if stop.is_set():
                    return
            handoff.put((_END, None))
        except Exception as exc:  # raised again in the caller's thread
            handoff.put((_END, exc))
        finally:
            if isinstance(items, Generator):
                items.close()

    producer = threading.Thread(target=produce, name="batches ahead", daemon=True)
    producer.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while producer.is_alive():  # a producer blocked on a full handoff must see the stop
            with contextlib.suppress(queue.Empty):
                handoff.get(timeout=0.05)
        producer.join()
