"""One run of the office kit: mirror the SFTP inbox (if it is one), receive, acknowledge, return
the acknowledgements. A bundle refused stops the receiving, not the acknowledging: the bundles
applied before it are still signed for and returned, then the refusal is raised."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from hub.errors import SigningKeyError, VerificationError, connector_errors
from hub.office.acknowledge import acknowledge
from hub.office.inbox import mirror, return_acknowledgements
from hub.office.receive import Received, receive
from hub.office.settings import Kit
from hub.office.stores import open_store
from hub.publish.bundle import ACKS
from hub.signing.crypto import load_signing_key


@dataclass
class KitRun:
    """What the run did: bundles downloaded and applied, acknowledgements signed and returned."""

    downloaded: list[int] = field(default_factory=list)
    applied: list[Received] = field(default_factory=list)
    acknowledged: list[int] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)


def passphrase(env: str | None) -> bytes | None:
    """The signing key's passphrase from ``$env`` (None: the key is not encrypted)."""
    if env is None:
        return None
    value = os.environ.get(env)
    if not value:
        raise SigningKeyError(f"${env} is not set: export the passphrase of the office's signing key in it")
    return value.encode()


def run_kit(kit: Kit, *, now: dt.datetime, progress: Callable[[str], None] = lambda _: None,
            done: KitRun | None = None) -> KitRun:
    """One run (the module's docstring); ``done`` is filled as it goes, so a caller catching a
    refusal still sees what was applied before it."""
    done = done if done is not None else KitRun()
    witness = kit.checkpoints
    signer = load_signing_key(kit.key, passphrase(kit.passphrase_env), passphrase_from=f"${kit.passphrase_env}"
                              ) if kit.key is not None else None  # a key that cannot sign stops the run first
    if kit.sftp is not None:
        with open_store(kit.store, password_env=kit.store_password_env) as store:
            last = store.last()
        with connector_errors():
            done.downloaded = mirror(kit.sftp, kit.inbox, after=last[0] if last else 0, progress=progress)
    refused: VerificationError | None = None
    try:
        done.applied = receive(kit.inbox, kit.store, kit.keys, office=kit.office, identity=kit.identity, now=now,
                               witness=witness, password_env=kit.store_password_env, progress=progress)
    except VerificationError as exc:
        refused = exc
    if signer is not None:
        with open_store(kit.store, password_env=kit.store_password_env) as store:
            done.acknowledged = acknowledge(store, kit.inbox / ACKS, signer, witness=witness)
        if kit.sftp is not None:
            with connector_errors():
                done.returned = return_acknowledgements(kit.sftp, kit.inbox)
    if refused is not None:
        raise refused
    return done
