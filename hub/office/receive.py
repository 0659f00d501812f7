"""``hub office receive``: take in the bundles waiting in the office's inbox, in order.

The hub's keys come from its signed trust metadata in the inbox's ``trust/``, each version
followed from the one the store trusts (at first, the keys the office was installed with:
``hub.publish.trust``), so rotations and retirements reach the office without a key copied by
hand. Each bundle is verified for this office (signature, files, freshness, the hub's audit
checkpoint against those witnessed before), checked to follow the last one applied (no replay,
no fork, no incremental after a gap: ``verify.check_follows``), decrypted with the office's age
identity, and applied to the store with its ledger row in one transaction. A new store starts
from the newest full snapshot in the inbox, so an office that lost its store re-reads the chain
from there, and older bundles are refused as replays. The first bundle that fails stops the
run: later ones would build on it. A rerun goes on from the last one applied.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hub.errors import OfficeKitError, VerificationError
from hub.office.store import OfficeStore
from hub.office.stores import open_store
from hub.publish import trust
from hub.publish.bundle import DATA, is_bundle_name
from hub.publish.trust import TRUST, Trust
from hub.publish.verify import VerifiedBundle, check_follows, verify_bundle
from hub.signing.crypto import PublicKey, decrypt_with

Keyring = tuple[dict[str, PublicKey], dict[str, PublicKey]]


@dataclass(frozen=True)
class Received:
    """One bundle applied: its sequence, kind, and the rows each dataset file carried."""

    sequence: int
    full: bool
    rows: dict[str, int]


def receive(inbox: Path, store_at: str | Path, keys: Path, *, office: str, identity: Path | None, now: dt.datetime,
            witness: Path | None = None, password_env: str | None = None,
            progress: Callable[[str], None] = lambda _: None) -> list[Received]:
    """Apply every bundle in ``inbox`` newer than the store's last, in order; returns those
    applied. The store is a DuckDB file or a database URL (``hub.office.stores``)."""
    if not inbox.is_dir():
        raise OfficeKitError(f"the inbox {inbox} is not a folder: give the folder the hub delivers this office's "
                             "bundles to")
    waiting = sorted((int(p.name), p) for p in inbox.iterdir() if p.is_dir() and is_bundle_name(p.name))
    done: list[Received] = []
    umask = os.umask(0o077)  # the store and its decrypted data: the office's eyes only
    try:
        with open_store(store_at, password_env=password_env) as store:
            bound = store.office()
            if bound is not None and bound != office:
                raise OfficeKitError(f"the store {store.where} holds office {bound}'s bundles, not {office}'s: give "
                                     "this office its own store")
            keyring = _keyring(store, inbox, keys, progress)
            last = store.last()
            if last is None:
                waiting = _from_newest_snapshot(waiting, keys, keyring, office, now)
            for i, (sequence, bundle) in enumerate(waiting):
                if last is not None and sequence <= last[0]:
                    continue  # applied before
                with _private_copy(bundle, store.folder) as copy:  # checked and applied: nothing swapped between
                    try:
                        verified = verify_bundle(copy, keys, now=now, office=office, witness=witness, keyring=keyring)
                    except VerificationError as exc:
                        if exc.reason == "expired" and _later_snapshot(waiting[i + 1:], keys, keyring, office, now):
                            progress(f"bundle {sequence} expired unapplied: a later full snapshot replaces it")
                            continue
                        raise
                    if last is not None:
                        check_follows(last, office, verified.sequence, verified.previous, verified.full,
                                      f"store {store.where}")
                    rows = _apply(store, copy, verified, identity)
                last = (verified.sequence, verified.manifest_sha256)
                done.append(Received(verified.sequence, verified.full, rows))
                progress(f"bundle {verified.sequence} applied ({'full' if verified.full else 'incremental'}: "
                         + ", ".join(f"{name} {n:,}" for name, n in sorted(rows.items())) + ")")
    finally:
        os.umask(umask)
    return done


@contextmanager
def _private_copy(bundle: Path, beside: Path | None) -> Iterator[Path]:
    """``bundle`` copied into a folder only this user reads (beside the store's file, or in the
    temporary folder), removed afterwards: the inbox is writable by whoever delivers, so what is
    verified must be what is applied."""
    work = Path(tempfile.mkdtemp(prefix=".kit-", dir=beside))
    try:
        copy = work / bundle.name
        try:
            shutil.copytree(bundle, copy, symlinks=True)
        except OSError as exc:
            raise OfficeKitError(f"cannot copy {bundle} beside the store ({exc}); check the folders' "
                                 "permissions") from None
        yield copy
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _keyring(store: OfficeStore, inbox: Path, keys: Path, progress: Callable[[str], None]) -> Keyring:
    """The hub keys to verify with: the trust metadata the store followed before, or the keys the
    office was installed with (``keys``), brought up to date by the versions in the inbox's
    ``trust/``, each recorded as it is followed. Keys the office retired itself stay retired."""
    installed = Trust.installed(keys)
    held = store.trusted()
    current = trust.read(held, f"the trust metadata in {store.path}")[0] if held is not None else installed
    current = installed if installed.version > current.version else current  # a newer keyring installed since
    folder = inbox / TRUST
    for path in sorted(folder.glob("[0-9]" * 8 + ".trust.dsse.json")) if folder.is_dir() else []:
        if int(path.name[:8]) <= current.version:
            continue
        raw = path.read_bytes()
        current = trust.follow(current, raw, str(path))
        store.trust(current.version, raw)
        progress(f"trust metadata version {current.version} followed: {len(current.keys)} hub key(s) trusted, "
                 f"{len(current.retired)} retired")
    retired = current.retired | installed.retired
    return {k: v for k, v in current.keys.items() if k not in retired}, retired


def _later_snapshot(later: list[tuple[int, Path]], keys: Path, keyring: Keyring, office: str,
                    now: dt.datetime) -> bool:
    """A full snapshot among ``later`` verifies now (an expired bundle may then be passed over)."""
    for _, bundle in later:
        try:
            if verify_bundle(bundle, keys, now=now, office=office, keyring=keyring).full:
                return True
        except VerificationError:
            continue
    return False


def _from_newest_snapshot(waiting: list[tuple[int, Path]], keys: Path, keyring: Keyring, office: str,
                          now: dt.datetime) -> list[tuple[int, Path]]:
    """For a new store: the bundles from the newest full snapshot that verifies on, which holds
    every row the office is due, so nothing older is ever applied."""
    for i in range(len(waiting) - 1, -1, -1):  # a bundle that fails to verify stops the search: it is news
        if verify_bundle(waiting[i][1], keys, now=now, office=office, keyring=keyring).full:
            return waiting[i:]
    raise OfficeKitError("the store is new and the inbox holds no full snapshot that verifies: ask the hub for one "
                         f"({len(waiting)} bundle(s) waiting)")


def _apply(store: OfficeStore, bundle: Path, verified: VerifiedBundle, identity: Path | None) -> dict[str, int]:
    """Decrypt the bundle's data files (in its private copy), and apply them."""
    files: dict[str, Path] = {}
    for path in sorted((bundle / DATA).iterdir()):
        name = path.name.removesuffix(".age").removesuffix(".parquet")
        if path.name.endswith(".age"):
            if identity is None:
                raise OfficeKitError(f"bundle {verified.sequence} is encrypted for the office: give its age "
                                     "identity (--identity)")
            decrypt_with(path, bundle / f"{name}.parquet", identity)
            files[name] = bundle / f"{name}.parquet"
        else:
            files[name] = path
    return store.apply(verified, files)
