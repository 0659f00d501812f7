"""``hub audit reproduce``: rebuild a bundle's data files from the lakehouse snapshot its signed
statement names, and show that each matches what was sent (or which differs, and why).

A bundle's extract is a function of the warehouse at one snapshot (the shared tables, the
marts, what the office held then) and of its agreement. The snapshot is kept for
``warehouse.snapshot_retention_days``; the agreement is today's ``hub.yaml``, so a bundle made
under another agreement version is rebuilt under today's terms and said to be. An encrypted
file cannot be rebuilt byte for byte (encryption is randomised): its plaintext's digest,
recorded in ``hub_bundles`` when it was published, is compared instead.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from hub.config import HubConfig
from hub.errors import WarehouseError
from hub.home import Home
from hub.normalize.warehouse import Warehouse
from hub.publish import extracts
from hub.publish.verify import signed_statement
from hub.signing.primitives import sha256_file


@dataclass(frozen=True)
class DatasetCheck:
    dataset: str
    rows_sent: int
    rows_rebuilt: int | None  # None: the rebuild made no such dataset
    digest_sent: str | None  # None: an encrypted file whose plaintext digest was not recorded
    digest_rebuilt: str | None
    compared_with: str  # "signed digest" or "plaintext digest recorded at publish"

    @property
    def matches(self) -> bool:
        return self.digest_sent is not None and self.digest_sent == self.digest_rebuilt

    def why(self) -> str:
        if self.rows_rebuilt is None:
            return "the rebuild has no such dataset: the agreement no longer shares it"
        if self.digest_sent is None:
            return "encrypted, and its plaintext digest was not recorded (published before the hub kept it)"
        if self.rows_rebuilt != self.rows_sent:
            return f"{self.rows_rebuilt} rows rebuilt, {self.rows_sent} sent"
        return "same rows, other content: the share's columns or treatments, or the identifier hash key, changed since"


@dataclass(frozen=True)
class Reproduction:
    bundle: Path
    office: str
    sequence: int
    snapshot: int
    checks: list[DatasetCheck]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.matches for c in self.checks)


def reproduce(config: HubConfig, home: Home, bundle: Path) -> Reproduction:
    """Rebuild ``bundle`` (authenticated with the hub's own public keys) from its snapshot."""
    statement, manifest_sha = signed_statement(bundle, home.keys)
    pred = statement["predicate"]
    snapshot = pred.get("lakehouse_snapshot")
    if not isinstance(snapshot, int):
        raise WarehouseError(f"{bundle} names no lakehouse snapshot: it was made before the warehouse kept "
                             "snapshots, so it cannot be rebuilt")
    office, notes = pred["office"], []
    agreement = config.agreement_for(office)
    if agreement is None:
        raise WarehouseError(f"{bundle} was made for office {office}, which has no agreement in hub.yaml now; "
                             "nothing can say what it was meant to share")
    sent = (pred["agreement"]["id"], pred["agreement"]["version"])
    if (agreement.id, agreement.version) != sent:
        notes.append(f"made under agreement {sent[0]} version {sent[1]}; rebuilt under today's {agreement.id} "
                     f"version {agreement.version}")
    try:
        wh = Warehouse.open(config, home, snapshot=snapshot)
    except WarehouseError as exc:
        raise WarehouseError(f"snapshot {snapshot} of {bundle} cannot be read ({exc}); snapshots are kept "
                             f"{config.warehouse.snapshot_retention_days} days (warehouse.snapshot_retention_days)"
                             ) from None
    with wh, tempfile.TemporaryDirectory(prefix="reproduce-") as work:
        built, _, _ = extracts.build(wh.con, agreement, home.state, Path(work), full=pred["extract"] == "full")
        rebuilt = {name: (pq.read_metadata(path).num_rows, sha256_file(path)) for name, path in built.items()}
    plain = _plain_digests(config, home, manifest_sha)
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    checks = []
    for name, described in sorted(pred["datasets"].items()):
        encrypted = described["file"].endswith(".age")
        digest = plain.get(name) if encrypted else subjects[described["file"]]
        rows, got = rebuilt.get(name, (None, None))
        checks.append(DatasetCheck(name, described["rows"], rows, digest, got,
                                   "plaintext digest recorded at publish" if encrypted else "signed digest"))
    notes += [f"the rebuild also made {name}, which the bundle lacks" for name in sorted(set(rebuilt) - set(pred["datasets"]))]
    return Reproduction(bundle, office, pred["sequence"], snapshot, checks, notes)


def _plain_digests(config: HubConfig, home: Home, manifest_sha: str) -> dict[str, str]:
    with Warehouse.open(config, home, read_only=True) as wh:
        rows = wh.query("SELECT dataset, plain_sha256 FROM hub_bundles WHERE bundle_sha256 = ? AND plain_sha256 "
                        "IS NOT NULL", [manifest_sha]).fetchall()
    return dict(rows)


def render(r: Reproduction) -> str:
    lines = [f"bundle {r.bundle} ({r.office}, sequence {r.sequence}) rebuilt from lakehouse snapshot {r.snapshot}"]
    for c in r.checks:
        if c.matches:
            lines.append(f"  {c.dataset:<28} {c.rows_sent:>8} rows  match   sha256 {c.digest_sent[:16]}… "  # type: ignore[index]
                         f"({c.compared_with})")
        else:
            lines.append(f"  {c.dataset:<28} {c.rows_sent:>8} rows  DIFFER  {c.why()}")
    lines += [f"  note: {n}" for n in r.notes]
    lines.append("every data file matches what was sent" if r.ok else "the rebuild differs from what was sent")
    return "\n".join(lines)
