"""Append-only, hash-chained audit log with signed checkpoints of its head.

One JSON line per pull, landing, apply, quarantine, publish, delivery, key change and config
change. Each entry carries the sha256 of the previous entry's line, so editing, deleting or
reordering entries breaks the chain at the first altered place, which ``verify`` names.

A chain alone cannot show that its *end* was cut off, nor that it was rewritten from some
entry on with fresh hashes. So the hub periodically signs the head (seq, hash of that line,
time) with its current Ed25519 key into ``checkpoints.jsonl``, whose lines are chained too,
and records each checkpoint as a log entry. A log shorter than a checkpoint, a head that no
longer matches, or a checkpoint line missing is then named by ``verify``. Cutting both files
back together stays invisible locally: copy ``checkpoints.jsonl`` somewhere the hub's
operators cannot write, and compare.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hub import faults
from hub.config import HubConfig
from hub.durable import write_atomic
from hub.errors import HubError
from hub.signing.crypto import PublicKey, Signer
from hub.signing.primitives import canonical_json, pae

GENESIS = "0" * 64
CHECKPOINT_TYPE = "application/vnd.case-exchange-hub.audit-checkpoint+json"
_CONFIG_MARK = b'"event": "config"'
_CHECKPOINT_MARK = b'"event": "checkpoint"'


def _digest(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


@dataclass
class _Head:
    fh: IO[bytes]
    seq: int
    last: bytes
    config: str | None  # digest named by the newest "config" entry


@contextmanager
def _locked(log: Path) -> Iterator[_Head]:
    """The log opened for appending under an exclusive lock (parallel pulls share one log)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        torn = _set_aside_torn(log, fh)
        try:
            head = _head_from_end(fh)
        except (ValueError, KeyError, TypeError):  # a line edited into something else: count them all
            head = _head_by_scan(fh)
        if torn is not None:
            _write(head, "recovered", "-", "audit", {"torn_line": torn})
        yield head
        fh.flush()
        os.fsync(fh.fileno())


def _set_aside_torn(log: Path, fh: IO[bytes]) -> dict[str, Any] | None:
    """Move a last line a crash cut short (every entry and checkpoint ends with a newline,
    written and synced with it) out of ``log``: its bytes to ``<log>.torn``, their digest into
    the next entry. Nothing is hidden, and the chain stays whole."""
    size = fh.seek(0, os.SEEK_END)
    if not size:
        return None
    fh.seek(size - 1)
    if fh.read(1) == b"\n":
        return None
    start = size
    while start > 0:  # back to the end of the last whole line
        block = max(0, start - (1 << 16))
        if (newline := _read_at(fh, block, start).rfind(b"\n")) >= 0:
            start = block + newline + 1
            break
        start = block
    cut = _read_at(fh, start, size)
    kept = log.with_name(log.name + ".torn")
    with open(kept, "ab") as out:
        out.write(cut + b"\n")
        out.flush()
        os.fsync(out.fileno())
    fh.truncate(start)
    os.fsync(fh.fileno())
    return {"at_byte": start, "bytes": len(cut), "sha256": _digest(cut), "kept_in": kept.name}


def _read_at(fh: IO[bytes], start: int, end: int) -> bytes:
    fh.seek(start)
    return fh.read(end - start)


def _head_from_end(fh: IO[bytes], block: int = 1 << 16) -> _Head:
    """The head read back from the end: the last entry, and the config in force, which every
    stage's entry names (an append must not cost the whole log)."""
    head = _Head(fh, 0, b"", None)
    for line in _newest_first(fh, block):
        if not head.last:
            head.last, head.seq = line, int(json.loads(line)["seq"])
        entry = json.loads(line) if b'"config"' in line else None
        if entry is not None and (entry["event"] == "config" or "config" in entry["details"]):
            head.config = entry["details"]["digest" if entry["event"] == "config" else "config"]
            break
    return head


def _head_by_scan(fh: IO[bytes]) -> _Head:
    """The head from every line, whatever they hold (``verify`` names what is wrong with them)."""
    fh.seek(0)
    head = _Head(fh, 0, b"", None)
    for line in fh:
        if line.strip():
            head.last, head.seq = line.rstrip(b"\n"), head.seq + 1
            if _CONFIG_MARK in line:
                head.config = json.loads(line)["details"]["digest"]
    return head


def _newest_first(fh: IO[bytes], block: int = 1 << 16) -> Iterator[bytes]:
    """The log's non-empty lines, newest first, read back a block at a time."""
    end = fh.seek(0, os.SEEK_END)
    rest = b""
    while end > 0:
        start = max(0, end - block)
        fh.seek(start)
        lines = (fh.read(end - start) + rest).split(b"\n")
        end = start
        rest = lines.pop(0) if start else b""  # the first may be cut: it is finished by the next block
        yield from (line for line in reversed(lines) if line.strip())


def _write(head: _Head, event: str, run_id: str, subject: str, details: dict[str, Any]) -> dict[str, Any]:
    entry = {
        "seq": head.seq + 1,
        "at": _now(),
        "event": event,
        "run_id": run_id,
        "subject": subject,
        "details": details,
        "prev": _digest(head.last) if head.last else GENESIS,
    }
    line = json.dumps(entry, ensure_ascii=False, sort_keys=True, default=str).encode()
    if faults.armed("audit.writing"):  # the power goes out mid-line
        head.fh.write(line[: len(line) // 2])
        head.fh.flush()
        os.fsync(head.fh.fileno())
        faults.die()
    head.fh.write(line + b"\n")
    head.seq, head.last = head.seq + 1, line
    return entry


def append(
    log: Path, event: str, *, run_id: str, subject: str, config: str | None = None, **details: Any
) -> dict[str, Any]:
    """Append one entry. With ``config`` (the config digest) a ``config`` entry is written
    first whenever the digest differs from the last one recorded: config changes are audited
    by the first stage that runs under the new config, wherever it was edited."""
    with _locked(log) as head:
        if config is not None:
            if config != head.config:
                _write(head, "config", run_id, "hub.yaml", {"digest": config, "previous": head.config,
                                                            "snapshot": f"configs/{config}.json"})
            details = {"config": config, **details}
        return _write(head, event, run_id, subject, details)


def record(log: Path, config: HubConfig, event: str, *, run_id: str, subject: str, **details: Any) -> dict[str, Any]:
    """``append`` for a pipeline stage: names the config digest, and keeps the validated config
    under ``configs/<digest>.json`` so an auditor can see what a change changed."""
    digest = config.digest()
    snapshot = log.parent / "configs" / f"{digest}.json"
    if snapshot.exists() and snapshot.stat().st_mode & 0o077:  # written before snapshots were owner-only
        os.chmod(snapshot.parent, 0o700)
        os.chmod(snapshot, 0o600)
    if not snapshot.exists():  # owner-only: a config may name hosts and users an outsider should not read
        snapshot.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = snapshot.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")  # pulls run in threads too
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
            fh.write(config.model_dump_json(indent=1))
        os.replace(tmp, snapshot)
    return append(log, event, run_id=run_id, subject=subject, config=digest, **details)


def _signed_part(cp: dict[str, Any]) -> bytes:
    return pae(CHECKPOINT_TYPE, canonical_json({k: cp[k] for k in ("seq", "head", "at", "prev")}))


def checkpoint(log: Path, checkpoints: Path, key: Signer, *, run_id: str = "-") -> dict[str, Any] | None:
    """Sign the log's current head into ``checkpoints`` and record that in the log.

    Runs under the log's lock, so the head signed is the head at that moment. None when the
    log is empty or nothing was logged since the last checkpoint.
    """
    with _locked(log) as head:
        if head.seq == 0 or _CHECKPOINT_MARK in head.last:  # nothing logged since the last one
            return None
        checkpoints.parent.mkdir(parents=True, exist_ok=True)
        with open(checkpoints, "a+b") as out:
            if (torn := _set_aside_torn(checkpoints, out)) is not None:  # a checkpoint a crash cut short
                _write(head, "recovered", run_id, "audit", {"torn_checkpoint": torn})
            previous = _read_lines(checkpoints)
            cp: dict[str, Any] = {
                "seq": head.seq, "head": _digest(head.last), "at": _now(),
                "prev": _digest(previous[-1]) if previous else GENESIS,
            }
            cp |= {"keyid": key.keyid, "sig": base64.b64encode(key.sign(_signed_part(cp))).decode()}
            out.write(json.dumps(cp, sort_keys=True).encode() + b"\n")
            out.flush()
            os.fsync(out.fileno())
        _write(head, "checkpoint", run_id, "audit", {"index": len(previous) + 1, "covers": cp["seq"],
                                                    "head": cp["head"], "keyid": key.keyid})
        return cp


def latest_checkpoint(checkpoints: Path) -> dict[str, Any] | None:
    """The last signed checkpoint, as every bundle carries it to its office (who then holds a
    copy of the log's head outside the hub); None before the first. Read from the file's end."""
    if not checkpoints.exists():
        return None
    with open(checkpoints, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 8192))
        tail = fh.read().split(b"\n")
    complete = [line for line in (tail if size <= 8192 else tail[1:]) if line.strip()]
    return json.loads(complete[-1]) if complete else None


def checkpoint_signer(cp: dict[str, Any], keys: dict[str, PublicKey]) -> str | None:
    """The key id among ``keys`` whose signature ``cp`` carries, or None (forged, edited, unknown key)."""
    try:
        signed, sig = _signed_part(cp), base64.b64decode(cp["sig"], validate=True)
    except (KeyError, TypeError, ValueError):
        return None
    key = keys.get(str(cp.get("keyid", "")))
    return key.keyid if key is not None and key.verify(sig, signed) else None


def read_witness(path: Path) -> list[dict[str, Any]]:
    """The checkpoints an office kept from the bundles it received (JSON Lines, as the hub's
    own checkpoints file); a damaged file is named, never skipped."""
    try:
        return [json.loads(line) for line in _read_lines(path)]
    except (OSError, json.JSONDecodeError) as exc:
        raise HubError(f"{path}: not a file of witnessed checkpoints ({exc}); ask the office for its copy again") from None


def keep_witnessed(path: Path, cp: dict[str, Any]) -> dict[str, Any] | None:
    """Add the checkpoint ``cp`` to a file of witnessed checkpoints (in log order, the file
    replaced whole: ``durable.write_atomic``), unless one for its position is kept already.
    That one is returned when its head differs: the hub showed two different logs (a fork)."""
    kept = read_witness(path) if path.exists() else []
    for seen in kept:
        if seen.get("seq") == cp["seq"]:
            return None if seen.get("head") == cp.get("head") else seen
    lines = [json.dumps(c, sort_keys=True) for c in sorted([*kept, cp], key=lambda c: c["seq"])]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, ("\n".join(lines) + "\n").encode())
    return None


def verify_witnessed(log: Path, witness: Path, keys: dict[str, PublicKey]) -> int:
    """Check the log against the checkpoints an office witnessed: each signed by a hub key, and
    each matched by the log's entry at its position. A tail cut from the log and the hub's own
    checkpoints together passes ``verify``, not this. Returns the number of checkpoints checked."""
    digests = _verify_chain(log)
    witnessed = read_witness(witness)
    for n, cp in enumerate(witnessed, 1):
        where = f"{witness}:{n}"
        if checkpoint_signer(cp, keys) is None:
            raise HubError(f"{where}: checkpoint signature does not verify with the hub's keys; the witness file "
                           "was edited, or holds another hub's checkpoints")
        if cp["seq"] > len(digests):
            raise HubError(f"{log}: has {len(digests)} entries but the checkpoint {where} witnessed (signed "
                           f"{cp['at']}) covers {cp['seq']}: entries {len(digests) + 1}–{cp['seq']} were removed "
                           "after an office received that checkpoint")
        if digests[cp["seq"] - 1] != cp["head"]:
            raise HubError(f"{log}:{cp['seq']}: differs from the checkpoint {where} witnessed (signed {cp['at']}): "
                           "the log was rewritten after an office received that checkpoint")
    return len(witnessed)


def _read_lines(path: Path) -> list[bytes]:
    if not path.exists():
        return []
    return [line for line in path.read_bytes().split(b"\n") if line.strip()]


def verify(
    log: Path, checkpoints: Path | None = None, *,
    trusted: dict[str, PublicKey] | None = None, retired: dict[str, PublicKey] | None = None,
) -> int:
    """Recompute the chain, then check every checkpoint; return the number of entries or
    raise naming the first broken place.

    Checkpoints signed by a retired key still count: each is a statement about the past made
    by the key that was signing then. A signature by an unknown key, or a bad one, does not.
    """
    digests = _verify_chain(log)
    if checkpoints is not None:
        _verify_checkpoints(log, digests, checkpoints, (trusted or {}) | (retired or {}))
    return len(digests)


def _verify_chain(log: Path) -> list[str]:
    """The sha256 of each entry's line, in order (index i holds seq i + 1)."""
    digests: list[str] = []
    if not log.exists():
        return digests
    prev = GENESIS
    with open(log, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip(b"\n")
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                raise HubError(f"{log}:{lineno}: entry is not valid JSON; the log was edited") from None
            if entry.get("prev") != prev or entry.get("seq") != lineno:
                raise HubError(
                    f"{log}:{lineno}: chain broken (entry seq {entry.get('seq')}); an entry before it "
                    "was edited, removed or reordered"
                )
            prev = _digest(line)
            digests.append(prev)
    return digests


def _verify_checkpoints(log: Path, digests: list[str], path: Path, keys: dict[str, PublicKey]) -> None:
    lines = _read_lines(path)
    prev, good = GENESIS, 0
    for n, line in enumerate(lines, 1):
        where = f"{path}:{n}"
        try:
            cp = json.loads(line)
        except json.JSONDecodeError:
            cp = None
        if not isinstance(cp, dict) or not {"seq", "head", "at", "prev", "sig"} <= cp.keys():
            raise HubError(f"{where}: checkpoint is not valid; the checkpoint file was edited")
        if cp["prev"] != prev:
            raise HubError(f"{where}: checkpoint chain broken; a checkpoint before it was edited, removed or reordered")
        if checkpoint_signer(cp, keys) is None:
            raise HubError(f"{where}: checkpoint signature does not verify with the hub's keys "
                           f"(key {str(cp.get('keyid'))[:16]}…); it was forged or edited")
        if cp["seq"] > len(digests):
            raise HubError(
                f"{log}: has {len(digests)} entries but checkpoint {n} (signed {cp['at']}) covers {cp['seq']}: "
                f"entries {len(digests) + 1}–{cp['seq']} were removed (the log was truncated)"
            )
        if digests[cp["seq"] - 1] != cp["head"]:
            raise HubError(
                f"{log}:{cp['seq']}: differs from what checkpoint {n} (signed {cp['at']}) recorded; entries "
                f"{good + 1}–{cp['seq']} were rewritten after the last matching checkpoint (seq {good})"
            )
        prev, good = _digest(line), cp["seq"]
    recorded = [json.loads(line) for line in _log_lines(log) if _CHECKPOINT_MARK in line] if log.exists() else []
    for entry in recorded:
        d = entry["details"]
        if d["index"] > len(lines):
            raise HubError(f"{log}:{entry['seq']}: records checkpoint {d['index']}, but {path} has only "
                           f"{len(lines)}: checkpoints were removed")
        if json.loads(lines[d["index"] - 1])["head"] != d["head"]:
            raise HubError(f"{path}:{d['index']}: is not the checkpoint {log}:{entry['seq']} recorded")


def _log_lines(log: Path) -> Iterator[bytes]:
    with open(log, "rb") as fh:
        for line in fh:
            yield line.rstrip(b"\n")


def entries(log: Path) -> Iterator[dict[str, Any]]:
    """Every entry, oldest first (readers such as trace and report; ``verify`` checks them)."""
    if log.exists():
        for line in _log_lines(log):
            if line.strip():
                yield json.loads(line)


def newest_first(log: Path) -> Iterator[dict[str, Any]]:
    """The entries from the end back, a block at a time, so reading what a run just wrote does
    not cost the whole log; a line a crash cut short is passed over."""
    if not log.exists():
        return
    with open(log, "rb") as fh:
        for line in _newest_first(fh):
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
