"""The office's own verifier: is this bundle from the hub, whole, unaltered, current and next?

Checks, in order, each failing with its own ``VerificationError.reason``:

    malformed       the manifest is not a DSSE envelope of in-toto JSON, or the signed
                    statement is not an extract statement of our predicate type
    retired-key     signed by a key the hub retired (in the keyring's retired/ folder, or
                    retired in the trust metadata the office follows), and by no trusted key
    bad-signature   no signature verifies with a key in the trusted folder (unknown key,
                    altered manifest, missing or unreadable trusted keys)
    missing-file    a file named in the manifest is absent (or the manifest itself)
    extra-file      anything not named in the manifest: under data/ or beside it
    digest-mismatch a data file's sha256 differs from the signed one
    expired         ``now`` is after the manifest's ``expires`` (a frozen feed)
    wrong-office    made for another office than the one verifying (``office``), or than the
                    one whose bundles the state file records
    rollback        (state file) the sequence is not after the last accepted one
    chain           (state file) the next bundle does not name the accepted one as previous
    gap             (state file) bundles are missing before an incremental one, whose changes
                    alone would leave the office's tables without theirs
    state           (state file) the verifier's own record is unreadable: fail closed
    trust           (office kit) trust metadata in the inbox that does not follow the
                    version the office trusts (``hub.publish.trust``)
    fork            (witness file) the bundle's audit checkpoint is not signed by a hub key, or
                    names another head for a position of the log than one witnessed before

Nothing in the statement is read before its signature verifies, and base64 must be in its
one canonical form, so no changed byte of a bundle can pass.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.durable import write_atomic
from hub.errors import HubError, SigningKeyError, VerificationError
from hub.observe import audit
from hub.publish.bundle import (
    DATA,
    MANIFEST,
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    RFC3339,
    STATEMENT_TYPE,
    is_plain_name,
)
from hub.signing.crypto import PublicKey, load_public_keys
from hub.signing.envelope import signed_by, unseal
from hub.signing.primitives import sha256_file

_SHA256 = re.compile(r"[0-9a-f]{64}")
_RESEND = "do not use this bundle; ask the hub to resend it"


@dataclass(frozen=True)
class VerifiedBundle:
    office: str
    sequence: int
    keyid: str
    datasets: dict[str, int]
    created: dt.datetime
    expires: dt.datetime
    manifest_sha256: str
    previous: str | None  # the manifest digest of the bundle before it
    full: bool  # a full snapshot, which stands on its own


@dataclass(frozen=True)
class _Statement:
    office: str
    sequence: int
    previous: str | None
    created: dt.datetime
    expires: dt.datetime
    subjects: dict[str, str]
    rows: dict[str, int]
    full: bool  # a full snapshot (``extract: full``), which stands on its own
    checkpoint: dict[str, Any] | None  # the hub's audit checkpoint it carries (none before they did)


def verify_bundle(bundle: Path, keys_dir: Path, *, now: dt.datetime, state_file: Path | None = None,
                  office: str | None = None, witness: Path | None = None,
                  keyring: tuple[dict[str, PublicKey], dict[str, PublicKey]] | None = None) -> VerifiedBundle:
    """Verify ``bundle`` against the public keys in ``keys_dir`` (or ``keyring``: trusted and
    retired keys, as the trust metadata the office follows lists them); raise ``VerificationError``.

    With ``office``, a bundle made for any other office is refused: a signature proves the hub
    made it, not for whom. With ``state_file``, a bundle that passes is also recorded as the
    office's last accepted one, so the next call can refuse replays and forks; the file keeps
    one office's record, and refuses another office's bundles. With ``witness``, the hub's audit
    checkpoint the bundle carries is checked against those kept there before and added to them
    (``hub audit verify --witness`` then checks the hub's log against the office's copy).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    manifest = bundle / MANIFEST
    if not manifest.is_file():
        raise _fail("missing-file", f"{manifest} is missing: {bundle} is not a complete bundle; {_RESEND}")
    raw = manifest.read_bytes()
    body, signatures = _envelope(raw, manifest)
    trusted, retired = keyring or _keyring(keys_dir, manifest)
    trusted = {k: v for k, v in trusted.items() if k not in retired}  # a retired key left among the trusted stays retired
    keyid = _signer(body, signatures, trusted, retired, keys_dir, manifest)
    st = _statement(body, manifest)
    _check_files(bundle, st.subjects)
    if office is not None and st.office != office:
        raise _fail("wrong-office", f"bundle {bundle} was made for office {st.office}, not for {office}: it is "
                                    "another office's extract; do not use it, and tell the hub it reached you")
    if now > st.expires:
        raise _fail("expired", f"bundle {bundle} expired at {st.expires:{RFC3339}} (now "
                               f"{now.astimezone(dt.UTC):{RFC3339}}): the hub's feed may have stopped; "
                               "ask it for a current extract")
    manifest_sha = hashlib.sha256(raw).hexdigest()
    if witness is not None and st.checkpoint is not None:
        _witness(witness, st.checkpoint, trusted | retired, manifest)
    if state_file is not None:
        _accept(state_file, st, manifest_sha)
    return VerifiedBundle(st.office, st.sequence, keyid, st.rows, st.created, st.expires, manifest_sha, st.previous,
                          st.full)


def signed_statement(bundle: Path, keys_dir: Path) -> tuple[dict[str, Any], str]:
    """A bundle's in-toto statement once its signature and files check out, and its manifest's
    sha256, whatever its age: for an auditor asking what a bundle said (``hub audit reproduce``),
    not for an office deciding whether to accept it (``verify_bundle``)."""
    manifest = bundle / MANIFEST
    if not manifest.is_file():
        raise _fail("missing-file", f"{manifest} is missing: {bundle} is not a complete bundle")
    raw = manifest.read_bytes()
    body, signatures = _envelope(raw, manifest)
    _signer(body, signatures, *_keyring(keys_dir, manifest), keys_dir, manifest)
    _check_files(bundle, _statement(body, manifest).subjects)
    return json.loads(body), hashlib.sha256(raw).hexdigest()


def _fail(reason: str, message: str) -> VerificationError:
    return VerificationError(message, reason=reason)


def _envelope(raw: bytes, manifest: Path) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The DSSE envelope's payload and (keyid, signature) pairs; nothing here is trusted yet."""
    try:
        return unseal(raw, PAYLOAD_TYPE)
    except ValueError as exc:
        raise _fail("malformed", f"{manifest} is not a signed manifest this verifier understands ({exc}); "
                                 f"{_RESEND}") from None


def _keyring(keys_dir: Path, manifest: Path) -> tuple[dict[str, PublicKey], dict[str, PublicKey]]:
    """The trusted keys in ``keys_dir`` and the retired ones in its ``retired/``: at least one
    trusted, and every file a key, else nothing can be checked."""
    retired_dir = keys_dir / "retired"
    try:
        trusted = load_public_keys(keys_dir)
        retired = load_public_keys(retired_dir) if retired_dir.is_dir() else {}
    except SigningKeyError as exc:
        raise _fail("bad-signature", f"cannot check {manifest}: {exc}") from None
    if not trusted:
        raise _fail("bad-signature", f"cannot check {manifest}: no trusted public keys (*.pem) in {keys_dir}; "
                                     "copy the hub's published key there")
    return trusted, retired


def _signer(body: bytes, signatures: list[tuple[str, bytes]], trusted: dict[str, PublicKey],
            retired: dict[str, PublicKey], keys_dir: Path, manifest: Path) -> str:
    """The key id of the first trusted key whose signature over the PAE verifies. A retired
    key's signature beside it changes nothing (a rotation's overlap signed with both, and whoever
    holds a retired key still lacks the trusted one); one alone is refused."""
    if (keyid := signed_by(PAYLOAD_TYPE, body, signatures, trusted)) is not None:
        return keyid
    if (keyid := signed_by(PAYLOAD_TYPE, body, signatures, retired)) is not None:
        raise _fail("retired-key", f"{manifest} is signed by key {keyid}, which the hub retired, and by no key it "
                                   f"trusts; a retired key may be compromised: {_RESEND}")
    if any(keyid in trusted for keyid, _ in signatures):
        raise _fail("bad-signature", f"{manifest} does not match its signature: it was altered or damaged; {_RESEND}")
    unknown = ", ".join(keyid for keyid, _ in signatures)
    raise _fail("bad-signature", f"{manifest} is signed by key {unknown}, which is not among the trusted keys in "
                                 f"{keys_dir}; if the hub announced this key, add its .pem there, otherwise {_RESEND}")


def _statement(body: bytes, manifest: Path) -> _Statement:
    """Parse the (now authenticated) in-toto statement, checking every field we rely on."""
    try:
        st = json.loads(body)
        if st["_type"] != STATEMENT_TYPE or st["predicateType"] != PREDICATE_TYPE:
            raise ValueError(f"statement type {st['_type']!r} / predicate type {st['predicateType']!r}, "
                             f"expected {STATEMENT_TYPE} / {PREDICATE_TYPE}")
        subjects: dict[str, str] = {}
        for s in st["subject"]:
            name, digest = s["name"], s["digest"]["sha256"]
            folder, _, file = name.partition("/")
            if folder != DATA or not is_plain_name(file) or name in subjects or not _SHA256.fullmatch(digest):
                raise ValueError(f"subject {name!r} is not a data file with a sha256 digest")
            subjects[name] = digest
        pred = st["predicate"]
        office, sequence, previous = pred["office"], pred["sequence"], pred["previous_manifest_sha256"]
        if not isinstance(office, str) or type(sequence) is not int or sequence < 1:
            raise ValueError("office or sequence has the wrong type")
        if previous is not None and not _SHA256.fullmatch(previous):
            raise ValueError("previous_manifest_sha256 is not a sha256")
        created, expires = (dt.datetime.strptime(pred[k], RFC3339).replace(tzinfo=dt.UTC)
                            for k in ("created", "expires"))
        if pred.get("extract") not in ("full", "incremental", None):
            raise ValueError(f"extract is {pred.get('extract')!r}, not full or incremental")
        rows = {name: d["rows"] for name, d in pred["datasets"].items()}
        files = {d["file"] for d in pred["datasets"].values()}
        if files != subjects.keys() or any(type(n) is not int for n in rows.values()):
            raise ValueError("datasets do not describe exactly the subject files")
    except KeyError as exc:
        raise _fail("malformed", f"{manifest} is signed but its statement lacks field {exc}; {_RESEND}") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise _fail("malformed", f"{manifest} is signed but is not an extract statement this verifier understands "
                                 f"({exc}); ask the hub which verifier version to use") from None
    checkpoint = pred.get("audit_checkpoint")
    if checkpoint is not None and not isinstance(checkpoint, dict):
        raise _fail("malformed", f"{manifest} is signed but its audit_checkpoint is not an object; {_RESEND}")
    return _Statement(office, sequence, previous, created, expires, subjects, rows, pred.get("extract") == "full",
                      checkpoint)


def _check_files(bundle: Path, subjects: dict[str, str]) -> None:
    """Exactly the signed files, each with its signed digest; nothing more, nothing less."""
    beside = sorted(p.name for p in bundle.iterdir() if p.name not in (MANIFEST, DATA))
    data = bundle / DATA
    if data.is_symlink() or (data.exists() and not data.is_dir()):
        beside.append(DATA)
    if beside:
        raise _fail("extra-file", f"{bundle} holds {', '.join(beside)}, which a bundle never contains (only {DATA}/ "
                                  f"and {MANIFEST}); someone added it: {_RESEND}")
    entries = {f"{DATA}/{p.name}": p for p in data.iterdir()} if data.is_dir() else {}
    for name in sorted(subjects):
        if name not in entries:
            raise _fail("missing-file", f"{bundle / name} is listed in the signed manifest but missing; {_RESEND}")
    extra = sorted(n for n, p in entries.items() if n not in subjects or p.is_symlink() or not p.is_file())
    if extra:
        raise _fail("extra-file", f"{', '.join(extra)} in {bundle} is not a file listed in the signed manifest; "
                                  f"someone added or replaced it: {_RESEND}")
    for name, digest in sorted(subjects.items()):
        if sha256_file(bundle / name) != digest:
            raise _fail("digest-mismatch", f"{bundle / name} was altered or damaged: its sha256 differs from the "
                                           f"signed manifest; {_RESEND}")


def _accept(state_file: Path, st: _Statement, manifest_sha: str) -> None:
    """Refuse a replayed or forked bundle, then record this one atomically as the last accepted."""
    state = _load_state(state_file)
    if state and st.office not in state:
        raise _fail("wrong-office", f"{state_file} records the bundles of office {', '.join(sorted(state))}, and this "
                                    f"bundle was made for office {st.office}: it is another office's extract; do not "
                                    "use it, and tell the hub it reached you")
    last = state.get(st.office)
    if last is not None:
        check_follows((last["sequence"], last["manifest_sha256"]), st.office, st.sequence, st.previous, st.full,
                      f"see {state_file}")
    state[st.office] = {"sequence": st.sequence, "manifest_sha256": manifest_sha}
    try:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(state_file, json.dumps(state, indent=1, ensure_ascii=False, sort_keys=True).encode())
    except OSError as exc:
        raise _fail("state", f"the bundle verified but {state_file} could not be updated ({exc}); fix the folder's "
                             "permissions and verify again") from None


def check_follows(last: tuple[int, str], office: str, sequence: int, previous: str | None, full: bool,
                  where: str) -> None:
    """Refuse a bundle that cannot come after ``last`` (the sequence and manifest digest accepted
    before, as ``where`` records): an old or replayed one (``rollback``), one that does not name
    it as previous (``chain``), or incremental changes after missing bundles (``gap``)."""
    if sequence <= last[0]:
        raise _fail("rollback", f"bundle {sequence} for {office} is not newer than bundle {last[0]} already accepted "
                                f"({where}): an old or replayed bundle; do not use it")
    if sequence == last[0] + 1 and previous != last[1]:
        raise _fail("chain", f"bundle {sequence} for {office} does not follow the accepted bundle {last[0]}: its "
                             "previous-manifest digest differs, so a bundle was replaced or the feed was forked; do "
                             "not use it and tell the hub")
    if sequence > last[0] + 1 and not full:
        missing = f"{last[0] + 1}" + (f"–{sequence - 1}" if sequence - 1 > last[0] + 1 else "")
        raise _fail("gap", f"bundle {sequence} for {office} follows bundle {last[0]}: bundle(s) {missing} are missing, "
                           f"and {sequence} carries only the changes since the one before it; verify the missing ones "
                           "first (ask the hub to resend them), or wait for the next full snapshot")


def _witness(witness: Path, cp: dict[str, Any], keys: dict[str, PublicKey], manifest: Path) -> None:
    """Keep the hub's audit checkpoint a bundle carries: refused (``fork``) when no hub key
    (trusted or retired: a checkpoint made before a retirement is still what the hub's key said
    then) signed it, or when one witnessed before names another head for the same position of
    the log (the hub showed two different logs); else added, the file rewritten atomically."""
    if audit.checkpoint_signer(cp, keys) is None:
        raise _fail("fork", f"{manifest} carries an audit checkpoint no hub key signed: the bundle is signed, so the "
                            "hub itself put it there; do not use it, and tell the hub's auditors")
    try:
        seen = audit.keep_witnessed(witness, cp)
    except HubError as exc:
        raise _fail("state", str(exc)) from None
    except OSError as exc:
        raise _fail("state", f"the bundle verified but {witness} could not be updated ({exc}); fix the folder's "
                             "permissions and verify again") from None
    if seen is not None:
        raise _fail("fork", f"{manifest} carries the hub's audit checkpoint for entry {cp['seq']} with head "
                            f"{str(cp['head'])[:16]}…, but {witness} holds one for the same entry with head "
                            f"{str(seen.get('head'))[:16]}…: the hub showed two different audit logs; do not "
                            "use this bundle, and give both to the hub's auditors")


def _load_state(state_file: Path) -> dict[str, dict[str, Any]]:
    """The last accepted bundle per office; a damaged record fails closed, never resets."""
    if not state_file.exists():
        return {}
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        for entry in state.values():
            if type(entry["sequence"]) is not int or not _SHA256.fullmatch(entry["manifest_sha256"]):
                raise ValueError("an entry is not {sequence, manifest_sha256}")
        return state
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _fail("state", f"the record of accepted bundles {state_file} is unreadable ({exc}); restore it from "
                             "a backup: without it, old bundles cannot be told from new ones") from None
