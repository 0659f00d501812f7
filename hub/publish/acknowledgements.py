"""Acknowledgements offices sign for the bundles they applied, collected and checked by the hub.

An office that registered its public key (``offices[].acknowledgement_keys``) signs one per
bundle it applied (the office kit: ``hub.office.acknowledge``) and leaves it in
``acknowledgements/`` of its inbox. ``collect`` fetches those the hub has not taken yet over the
channel the bundles went out by (the SFTP inbox, or the outbox folder the office reads), keeps
a copy under ``<home>/acknowledgements/<office>/``, and accepts one only when a registered key of
that office signed it and it names a bundle published to that office, by sequence and manifest
digest, with the rows the bundle carried. Accepted, it becomes a row of
``hub_acknowledgements`` and an ``acknowledged`` audit entry; refused, an
``acknowledgement_refused`` entry with the reason, its copy set aside, and the others go on.
The hub's audit checkpoint an acknowledgement carries is kept in the office's
``checkpoints.jsonl`` there, for ``hub audit verify --witness``. ``outstanding`` names the
bundles still unacknowledged after ``hub.acknowledgement_overdue_hours``, passing over those a
later full snapshot the office acknowledged supersedes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.sftp import sftp_session
from hub.config import HubConfig, Office
from hub.errors import ConfigError, HubError, SigningKeyError, connector_errors
from hub.home import Home
from hub.normalize.warehouse import Warehouse
from hub.observe import audit
from hub.observe.run import RunContext
from hub.publish.bundle import ACK_TYPE, ACKS, ack_name, ack_sequence
from hub.pull.sources import sftp_settings
from hub.signing.crypto import PublicKey, public_key_from_pem
from hub.signing.envelope import signed_by, unseal

_MAX_BYTES = 1 << 20  # an acknowledgement is a few hundred bytes: anything larger is not one


@dataclass
class Collected:
    """What one collection did for an office: sequences acknowledged, files refused with why."""

    office: str
    acknowledged: list[int] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # the channel or warehouse failed: nothing more of this office was collected


@dataclass(frozen=True)
class Outstanding:
    office: str
    bundle_sequence: int
    published_at: dt.datetime


class _Refused(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def registered_keys(home: Home, office: Office) -> dict[str, PublicKey]:
    """The office's acknowledgement keys by key id; a file that is not one is a configuration error."""
    keys = {}
    for name in office.acknowledgement_keys:
        path = home.resolve(name)
        try:
            key = public_key_from_pem(path.read_bytes())
        except (OSError, SigningKeyError) as exc:
            raise ConfigError(f"office {office.id}: acknowledgement key {path} cannot be read as an Ed25519 public "
                              f"key PEM ({exc}); put the key the office's kit printed there") from None
        keys[key.keyid] = key
    return keys


def collect(run: RunContext, wh: Warehouse, office_id: str) -> Collected:
    """Take in the office's new acknowledgements (see the module's docstring)."""
    office = run.config.office(office_id)
    keys = registered_keys(run.home, office)
    done = Collected(office_id)
    if not keys:
        return done
    kept = run.home.acknowledgements / office_id
    (kept / "refused").mkdir(parents=True, exist_ok=True)
    recorded = {int(r[0]) for r in wh.query("SELECT bundle_sequence FROM hub_acknowledgements WHERE office = ?",
                                            [office_id]).fetchall()}
    accepted: list[list[Any]] = []
    try:
        _take(run, wh, office, keys, kept, recorded, accepted, done)
    finally:  # what was accepted (and audited) before a failure of the channel is recorded all the same
        if accepted:
            with wh.transaction():
                wh.con.executemany("INSERT INTO hub_acknowledgements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", accepted)
            done.acknowledged = [row[1] for row in accepted]
    return done


def _take(run: RunContext, wh: Warehouse, office: Office, keys: dict[str, PublicKey], kept: Path, recorded: set[int],
          accepted: list[list[Any]], done: Collected) -> None:
    """``collect``'s loop over the office's acknowledgements: each checked, audited and kept, and
    the accepted ones added to ``accepted``."""
    office_id = office.id
    with _channel(run, office) as (names, fetch):
        for name in names:
            sequence = ack_sequence(name)
            if sequence is None or sequence in recorded:
                continue
            raw = fetch(name)
            digest = hashlib.sha256(raw).hexdigest()
            if (kept / "refused" / f"{name}.{digest[:16]}").exists():
                continue  # refused before, unchanged since
            try:
                ack, keyid = _check(raw, keys, office_id, sequence, wh)
            except _Refused as exc:
                (kept / "refused" / f"{name}.{digest[:16]}").write_bytes(raw)
                run.record("acknowledgement_refused", subject=office_id, file=name, envelope_sha256=digest,
                           reason=exc.reason, detail=str(exc))
                done.refused[name] = f"{exc.reason}: {exc}"
                continue
            (kept / name).write_bytes(raw)
            # audited before it is recorded: a crash between the two audits it again at the next
            # run (the same envelope digest twice), never leaves a recorded one unaudited
            run.record("acknowledged", subject=office_id, sequence=ack["sequence"],
                       manifest_sha256=ack["manifest_sha256"], keyid=keyid, envelope_sha256=digest, rows=ack["rows"],
                       applied_at=ack["applied_at"].isoformat())
            accepted.append([office_id, ack["sequence"], ack["manifest_sha256"], ack["extract"],
                             json.dumps(ack["rows"], sort_keys=True), ack["applied_at"], keyid, digest,
                             (ack.get("audit_checkpoint") or {}).get("seq"), dt.datetime.now(dt.UTC).replace(tzinfo=None)])
            cp = ack.get("audit_checkpoint")
            if cp and (seen := audit.keep_witnessed(kept / "checkpoints.jsonl", cp)) is not None:
                run.record("witnessed_fork", subject=office_id, sequence=ack["sequence"], seq=cp["seq"],
                           head=cp["head"], kept_head=seen.get("head"))
            recorded.add(ack["sequence"])


def _check(raw: bytes, keys: dict[str, PublicKey], office: str, sequence: int,
           wh: Warehouse) -> tuple[dict[str, Any], str]:
    """The acknowledgement and the key id that signed it, or why it is refused."""
    if len(raw) > _MAX_BYTES:
        raise _Refused("malformed", f"{len(raw):,} bytes is no acknowledgement")
    try:
        body, signatures = unseal(raw, ACK_TYPE)
    except ValueError as exc:
        raise _Refused("malformed", f"not a signed acknowledgement ({exc})") from None
    keyid = signed_by(ACK_TYPE, body, signatures, keys)
    if keyid is None:
        raise _Refused("bad-signature", f"signed by {', '.join(k[:16] for k, _ in signatures)}, no key of office "
                                        f"{office} registered with the hub (or altered since it was signed)")
    try:
        ack = json.loads(body)
        if not isinstance(ack, dict) or not isinstance(ack.get("rows"), dict):
            raise ValueError("not an object with rows")
        applied = dt.datetime.strptime(ack["applied_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        fields = (ack["office"], int(ack["sequence"]), str(ack["manifest_sha256"]), str(ack["extract"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise _Refused("malformed", f"signed, but not an acknowledgement this hub reads ({exc})") from None
    checkpoint = ack.get("audit_checkpoint")
    if checkpoint is not None and not (isinstance(checkpoint, dict) and isinstance(checkpoint.get("seq"), int)
                                       and isinstance(checkpoint.get("head"), str)):
        raise _Refused("malformed", "its audit_checkpoint is not a checkpoint (an object with an integer seq and a "
                                    "head)")
    if fields[0] != office:
        raise _Refused("wrong-office", f"signed for office {fields[0]!r}, found in {office}'s inbox")
    if fields[1] != sequence:
        raise _Refused("malformed", f"names bundle {fields[1]} but is filed as {ack_name(sequence)}")
    sent = wh.query("SELECT bundle_sha256, dataset, rows FROM hub_bundles WHERE office = ? AND bundle_sequence = ?",
                    [office, sequence]).fetchall()
    if not sent or sent[0][0] != fields[2]:
        raise _Refused("unknown-bundle", f"names bundle {sequence} with manifest sha256 {fields[2][:16]}…, which the "
                                         f"hub did not publish to {office}")
    carried = {dataset: int(rows) for _, dataset, rows in sent}
    if ack["rows"] != carried:
        raise _Refused("rows-differ", f"says the office applied {ack['rows']}, the bundle carried {carried}")
    return {**ack, "sequence": fields[1], "applied_at": applied}, keyid


@contextmanager
def _channel(run: RunContext, office: Office) -> Iterator[tuple[list[str], Any]]:
    """(names in the office's acknowledgements folder, a function reading one) over the
    channel its bundles go out by: its SFTP inbox, else the outbox folder it reads."""
    if office.delivery.sftp is None:
        folder = office.outbox(run.home) / ACKS
        names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

        def read(name: str) -> bytes:
            try:
                with open(folder / name, "rb") as fh:
                    return fh.read(_MAX_BYTES + 1)
            except OSError as exc:
                raise HubError(f"cannot read {folder / name} ({exc}); check the folder's permissions") from None

        yield names, read
        return
    settings = sftp_settings(run.home, f"acknowledgements of {office.id}", office.delivery.sftp)
    remote = posixpath.join(settings.remote_dir, office.id, ACKS)
    with connector_errors(), sftp_session(settings) as sftp:
        try:
            names = sorted(sftp.listdir(remote))
        except FileNotFoundError:
            names = []

        def fetch(name: str) -> bytes:
            with sftp.open(posixpath.join(remote, name), "rb") as fh:
                return fh.read(_MAX_BYTES + 1)

        yield names, fetch


def outstanding(wh: Warehouse, config: HubConfig, now: dt.datetime) -> list[Outstanding]:
    """Bundles of offices that acknowledge, published more than the overdue hours before ``now``
    and not acknowledged, nor superseded by a later full snapshot the office acknowledged (an
    office that lost its store, or was away past a bundle's expiry, rightly starts from one)."""
    offices = [o.id for o in config.offices if o.acknowledgement_keys]
    if not offices:
        return []
    cutoff = (now - dt.timedelta(hours=config.hub.acknowledgement_overdue_hours)).astimezone(dt.UTC).replace(tzinfo=None)
    rows = wh.query("""SELECT office, bundle_sequence, min(published_at) FROM acknowledgement_status
                       WHERE NOT acknowledged AND superseded_by IS NULL AND list_contains(?, office) GROUP BY ALL
                       HAVING min(published_at) < ? ORDER BY ALL""", [offices, cutoff]).fetchall()
    return [Outstanding(o, int(s), p) for o, s, p in rows]


def collect_acknowledgements(run: RunContext, office_ids: list[str] | None = None) -> list[Collected]:
    """``collect`` for every office that acknowledges (or those of ``office_ids``), on one
    warehouse connection. An office whose channel fails is audited and passed over; the error
    is in its result and the others are still collected."""
    offices = [o.id for o in run.config.offices if o.acknowledgement_keys and (office_ids is None or o.id in office_ids)]
    if not offices:
        return []
    results = []
    with Warehouse.open(run.config, run.home) as wh:
        for office_id in offices:
            try:
                results.append(collect(run, wh, office_id))
            except HubError as exc:
                run.record("acknowledgements", subject=office_id, status="failed", error=str(exc))
                results.append(Collected(office_id, error=str(exc)))
    return results
