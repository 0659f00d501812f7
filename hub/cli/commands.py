"""The ``hub`` commands, one function each; what they need is imported when they run, so
``hub --help`` and ``hub verify`` start without loading Dagster or DuckDB."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from hub.errors import ConfigError, HubError, VerificationError
from hub.home import Home

if TYPE_CHECKING:
    from hub.office.settings import Kit


def cmd_run(args: argparse.Namespace) -> int:
    from hub.cli.summary import print_summary
    from hub.orchestration.execute import run_exchange

    home = Home.find(args.home)
    exchange = run_exchange(home, Path(args.config).resolve() if args.config else None)
    undone = print_summary(home, Path(args.config).resolve() if args.config else None, exchange=exchange)
    return 1 if undone else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from hub.cli.summary import print_summary
    from hub.demo import exchange
    from hub.demo.sftp_server import DemoSftpServer
    from hub.orchestration.execute import run_exchange

    home = Home.find(args.home)
    home.root.mkdir(parents=True, exist_ok=True)
    print(f"demo home: {home.root}")
    exchange.ensure_keys(home)
    with DemoSftpServer(exchange.sftp_root(home), exchange.host_key_path(home),
                        exchange.client_public_line(home)) as server:
        as_of = dt.date.fromisoformat(args.as_of) if args.as_of else None
        exchange.create(home, port=server.port, seed=args.seed, as_of=as_of)
        print(f"procuratorate SFTP drop serving on 127.0.0.1:{server.port} (host key pinned in hub.yaml)")
        print("running the exchange: pull -> land -> normalize -> publish ...")
        exchange = run_exchange(home, as_of=as_of)
    undone = print_summary(home, demo=True, exchange=exchange)
    return 1 if undone else 0


def cmd_demo_server(args: argparse.Namespace) -> int:
    """Serve a demo home's SFTP drop on the port its hub.yaml names, so ``hub run`` can pull."""
    from hub.config import SftpDropSource, load_config
    from hub.demo import exchange
    from hub.demo.sftp_server import DemoSftpServer

    home = Home.find(args.home)
    config = load_config(home.require_config())
    drops = [s.sftp for s in config.sources if isinstance(s, SftpDropSource)]
    if not drops:
        raise ConfigError(f"{home.config} has no SFTP source to serve; is {home.root} a demo home?")
    with DemoSftpServer(exchange.sftp_root(home), exchange.host_key_path(home),
                        exchange.client_public_line(home), port=drops[0].port):
        print(f"serving {exchange.sftp_root(home)} on 127.0.0.1:{drops[0].port}; Ctrl-C stops")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from hub.publish.verify import verify_bundle

    try:
        v = verify_bundle(
            Path(args.bundle), Path(args.keys), now=dt.datetime.now(dt.UTC),
            state_file=Path(args.state) if args.state else None, office=args.office,
            witness=Path(args.witness) if args.witness else None,
        )
    except VerificationError as exc:
        print(f"REJECTED ({exc.reason}): {exc}", file=sys.stderr)
        return 1
    rows = ", ".join(f"{k}={n}" for k, n in v.datasets.items())
    print(f"OK: bundle {args.bundle}")
    print(f"  office {v.office}, sequence {v.sequence}, signed by key {v.keyid[:16]}…")
    print(f"  created {v.created}, expires {v.expires}")
    print(f"  every file's sha256 matches the signed manifest; rows: {rows}")
    return 0


def _kit(args: argparse.Namespace) -> Kit:
    """The office kit's settings: its file (``--config``), or the options given."""
    from hub.office.settings import Kit, load_kit
    from hub.office.stores import store_location

    if args.config:
        return Kit.of(*load_kit(Path(args.config)))
    missing = [f"--{name}" for name in ("inbox", "store", "keys", "office") if getattr(args, name, None) is None]
    if missing:
        raise ConfigError(f"give {', '.join(missing)}, or --config with the office kit's settings file")

    def at(p: str | None) -> Path | None:
        return Path(p) if p else None

    return Kit(args.office, store_location(args.store), Path(args.keys), Path(args.inbox), at(args.identity),
               at(args.key), args.passphrase_env, at(args.witness), store_password_env=args.store_password_env)


def cmd_office(args: argparse.Namespace) -> int:
    from hub.office.run import KitRun, run_kit
    from hub.office.stores import is_url, open_store, store_location

    if args.office_command == "receive":
        kit = _kit(args)
        store, password_env, done = kit.store, kit.store_password_env, KitRun()
        try:
            run_kit(kit, now=dt.datetime.now(dt.UTC), progress=print, done=done)
        except VerificationError as exc:
            print(f"REJECTED ({exc.reason}): {exc}", file=sys.stderr)
            print("  bundles before it stay applied; nothing after it was", file=sys.stderr)
            return 1
        finally:
            if done.acknowledged:
                print(f"acknowledged bundle(s) {', '.join(map(str, done.acknowledged))} in "
                      f"{kit.inbox / 'acknowledgements'}" + (f"; {len(done.returned)} returned to {kit.sftp.host}"
                                                            if kit.sftp else ""))
        print(f"{len(done.applied)} bundle(s) applied to {store}" if done.applied else f"nothing new in {kit.inbox}")
    elif args.config:  # the store it names; nothing else of the settings (no SFTP passphrase) is needed
        from hub.office.settings import load_kit

        settings, base = load_kit(Path(args.config))
        store = store_location(settings.store, base)
        password_env = settings.store_password_env
    elif args.store:
        store, password_env = store_location(args.store), args.store_password_env
    else:
        raise ConfigError("give --store, or --config with the office kit's settings file")
    if not is_url(store) and not Path(store).exists():
        print(f"no store at {store}: run `hub office receive` first", file=sys.stderr)
        return 1
    with open_store(store, password_env=password_env) as opened:
        held, where = opened.held(), opened.where
    if held.sequence is None:
        print(f"{where}: no bundle applied yet")
        return 0
    print(f"{where}: office {held.office}, bundle {held.sequence} applied at {held.applied_at:%Y-%m-%d %H:%M} "
          f"({held.bundles} in all); it expires {held.expires:%Y-%m-%d %H:%M}")
    for table, rows in held.tables.items():
        print(f"  {table}: {rows:,} rows")
    return 0


def cmd_office_keygen(args: argparse.Namespace) -> int:
    from hub.office.run import passphrase
    from hub.signing.crypto import generate_signing_key

    keyid = generate_signing_key(Path(args.private), Path(args.public), passphrase(args.passphrase_env))
    print(f"office key {keyid}: give {Path(args.public) / (keyid + '.pem')} to the hub, which lists it under the "
          f"office's acknowledgement_keys in hub.yaml; keep {Path(args.private) / (keyid + '.key')} private")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from hub.observe import audit
    from hub.signing.crypto import load_public_keys

    home = Home.find(args.home)
    retired = home.keys / "retired"
    try:
        trusted = load_public_keys(home.keys) if home.keys.is_dir() else {}
        old = load_public_keys(retired) if retired.is_dir() else {}
        n = audit.verify(home.audit, home.audit_checkpoints, trusted=trusted, retired=old)
        witnessed = [(w, audit.verify_witnessed(home.audit, Path(w), trusted | old)) for w in args.witness]
    except HubError as exc:
        print(f"BROKEN: {exc}", file=sys.stderr)
        return 1
    checkpoints = len(home.audit_checkpoints.read_text().splitlines()) if home.audit_checkpoints.exists() else 0
    print(f"OK: {n} audit entries, hash chain intact ({home.audit})")
    print(f"  {checkpoints} signed checkpoint(s) verify and match the log ({home.audit_checkpoints})")
    for path, count in witnessed:
        print(f"  {count} checkpoint(s) an office witnessed match the log ({path})")
    return 0


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    from hub.config import load_config
    from hub.observe import audit
    from hub.publish import keys

    home = Home.find(args.home)
    passphrase_env = load_config(home.require_config()).hub.signing_passphrase_env
    cp = audit.checkpoint(home.audit, home.audit_checkpoints, keys.signing_key(home, passphrase_env))
    print(f"signed the head at entry {cp['seq']}" if cp else "nothing logged since the last checkpoint")
    return 0


def cmd_audit_report(args: argparse.Namespace) -> int:
    from hub.config import load_config
    from hub.inspect import audit_report
    from hub.normalize.warehouse import Warehouse

    home = Home.find(args.home)
    config = load_config(home.require_config())
    start = _date(args.start, "--from") if args.start else dt.date(1970, 1, 1)
    end = _date(args.end, "--to") if args.end else dt.datetime.now(dt.UTC).date()
    with Warehouse.open(config, home, read_only=True) as wh:
        result = audit_report.build(config, home, wh, office=args.office, start=start, end=end)
    print(audit_report.render(result))
    if args.out:
        audit_report.write(result, Path(args.out))
        print(f"written to {args.out}")
    return 0


def cmd_audit_reproduce(args: argparse.Namespace) -> int:
    """Rebuild a bundle from the lakehouse snapshot it names; 1 when a file differs."""
    from hub.config import load_config
    from hub.inspect import reproduce

    home = Home.find(args.home)
    result = reproduce.reproduce(load_config(home.require_config()), home, Path(args.bundle))
    print(reproduce.render(result))
    return 0 if result.ok else 1


def cmd_migrate(args: argparse.Namespace) -> int:
    """Move a single-file warehouse into the lakehouse, every table's rows and digest shown before and after."""
    import uuid

    from hub.config import load_config
    from hub.normalize.migrate import migrate

    home = Home.find(args.home)
    done = migrate(load_config(home.require_config()), home, run_id=f"migrate-{uuid.uuid4().hex[:12]}")
    print(f"moved {done.source} (read with DuckDB {done.read_with}) into the {done.lakehouse}")
    print(f"  {'table':<30} {'rows before':>12} {'rows after':>12}  content sha (md5 of rows) before = after")
    for m in done.tables:
        print(f"  {m.table:<30} {m.rows_before:>12,} {m.rows_after:>12,}  {m.digest_before[:12]} = {m.digest_after[:12]}")
    print(f"every table arrived whole; the file is kept as {done.kept_as}")
    return 0


def cmd_reports(args: argparse.Namespace) -> int:
    """Write a quarter's statistics tables or a year's chart again, from the marts as they stand."""
    from hub.config import load_config
    from hub.marts.stage import write_report_files
    from hub.observe.run import RunContext

    home = Home.find(args.home)
    config = load_config(home.require_config())
    if not (args.quarter or args.year):
        raise ConfigError("say which report: --quarter 2024Q3 (statistics tables) and/or --year 2024 (chart)")
    if args.quarter and not re.fullmatch(r"[0-9]{4}Q[1-4]", args.quarter):
        raise ConfigError(f"--quarter {args.quarter!r}: write a quarter as YYYYQn, e.g. 2024Q3")
    files = write_report_files(RunContext(config, home, "-"), quarter=args.quarter, year=args.year,
                               folder=Path(args.out).resolve() if args.out else None)
    for path in files:
        print(f"written {path}")
    return 0


def _date(text: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: write a date as YYYY-MM-DD") from None


def cmd_trace(args: argparse.Namespace) -> int:
    import json

    from hub.config import load_config
    from hub.inspect import trace
    from hub.normalize.warehouse import Warehouse

    home = Home.find(args.home)
    config = load_config(home.require_config())
    if sum(x is not None for x in (args.case_no, args.record, args.bundle)) != 1:
        raise ConfigError("trace one thing: a case number, --record ID, or --bundle DIR --dataset D --row N")
    if args.bundle is not None and (args.dataset is None or args.row is None):
        raise ConfigError("--bundle needs --dataset (e.g. filing) and --row (1-based row in that dataset's file)")
    with Warehouse.open(config, home, read_only=True) as wh:
        result = trace.trace(config, home, wh, case_no=args.case_no, record=args.record,
                             bundle=Path(args.bundle) if args.bundle else None, dataset=args.dataset, row=args.row)
    print(json.dumps(result, ensure_ascii=False, indent=1, default=str) if args.json else trace.render(result))
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from hub.config import load_config
    from hub.publish import keys

    home = Home.find(args.home)
    passphrase_env = (load_config(home.config).hub.signing_passphrase_env if home.config.exists() else None)
    if args.keys_command == "rotate":
        keyid = keys.rotate(home, passphrase_env)
        print(f"new signing key {keyid}; offices learn of it from the trust metadata delivered with the next bundles "
              f"(signed by the previous key too), or take {home.keys / (keyid + '.pem')} by hand")
        print("the previous key still signs and verifies until you run: hub keys retire <old keyid>")
    elif args.keys_command == "protect":
        done = keys.protect(home, passphrase_env)
        if done:
            print(f"encrypted {len(done)} signing key(s) under the passphrase in ${passphrase_env}"
                  + "".join(f"\n  {k}" for k in done))
        else:
            print("every signing key was already encrypted" if keys.list_keys(home) else
                  "no signing keys yet: the first publish (or 'hub keys rotate') makes one, encrypted")
    elif args.keys_command == "retire":
        keys.retire(home, args.keyid, passphrase_env)
        print(f"retired {args.keyid}: offices refuse what it signed once they take the trust metadata delivered "
              "with the next bundles (or the exported keyring)")
    elif args.keys_command == "export":
        for path in keys.export(home, Path(args.target)):
            print(path)
    else:
        for k in keys.list_keys(home):
            print(f"{k.keyid}  {k.status:<11}  {k.created:%Y-%m-%d %H:%M}Z  private key: {k.private}")
    return 0


def cmd_batches(args: argparse.Namespace) -> int:
    """Batches set aside: list them, release one to be applied again, or drop one for good; audited."""
    from hub.config import load_config
    from hub.normalize import set_aside
    from hub.normalize.warehouse import Warehouse
    from hub.observe.run import RunContext

    home = Home.find(args.home)
    config = load_config(home.require_config())
    run = RunContext(config, home, "-")
    if args.batches_command == "list":
        with Warehouse.open(config, home, read_only=True) as wh:
            found = set_aside.listed(wh, dropped=args.all)
        for b in found:
            print(f"{b.batch_id[:12]}  {b.source:<24} {b.rows:>7} rows{'  (dropped)' if b.dropped else ''}\n  {b.reason}")
        print(f"{len(found)} batch(es) set aside" if found else "no batch is set aside")
        return 0
    with Warehouse.open(config, home) as wh:
        if args.batches_command == "release":
            found = set_aside.release(wh, args.batch_id)
            run.record("release", subject=found.source, **set_aside.audit_details(found))
            print(f"released {found.batch_id[:12]} ({found.rows} rows from {found.source}): the next run applies it")
        else:
            found = set_aside.drop(wh, args.batch_id, args.reason)
            run.record("drop", subject=found.source, **set_aside.audit_details(found), drop_reason=args.reason)
            print(f"dropped {found.batch_id[:12]} ({found.rows} rows from {found.source}) for good")
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    """Open the Dagster UI on this home's definitions."""
    from hub.config import load_config
    from hub.orchestration.instance import dagster_instance

    home = Home.find(args.home)
    dagster_instance(home, load_config(home.require_config()))
    os.environ["HUB_HOME"] = str(home.root)
    dagster = shutil.which("dagster") or str(Path(sys.executable).parent / "dagster")
    os.execv(dagster, [dagster, "dev", "-m", "hub.definitions", "-p", str(args.port)])


def cmd_daemon(args: argparse.Namespace) -> int:
    """Become Dagster's daemon on this home, without the UI: the schedules and the sensor tick,
    queued runs start within the limits, and a failed run is run again (``run_retries``)."""
    from hub.config import load_config
    from hub.orchestration.instance import dagster_instance

    home = Home.find(args.home)
    dagster_instance(home, load_config(home.require_config())).dispose()  # the instance file hub.yaml describes
    os.environ["HUB_HOME"] = str(home.root)
    daemon = shutil.which("dagster-daemon") or str(Path(sys.executable).parent / "dagster-daemon")
    os.execv(daemon, [daemon, "run", "-m", "hub.definitions"])


def cmd_worker(args: argparse.Namespace) -> int:
    """Become a Celery worker of this home's production profile (``orchestration.broker``):
    Dagster's instance and the broker as hub.yaml says, the passwords from the environment."""
    from hub.config import load_config
    from hub.orchestration.instance import dagster_instance
    from hub.orchestration.workers import QUEUE, broker_url

    home = Home.find(args.home)
    config = load_config(home.require_config())
    if config.orchestration.broker is None:
        print(f"{home.config} has no orchestration.broker: 'hub run' and 'hub dev' run every step themselves; "
              "set broker (and storage) as docs/deployment.md says to run steps on workers", file=sys.stderr)
        return 2
    broker_url(config.orchestration)  # an unset password variable: the config error now, not in Celery's log
    dagster_instance(home, config).dispose()  # Dagster's tables made before any step runs
    os.environ["HUB_HOME"] = str(home.root)
    os.execv(sys.executable, [sys.executable, "-m", "celery", "-A", "hub.orchestration.celery_app", "worker",
                              "--prefetch-multiplier=1", "-Q", QUEUE, "-n", f"{args.name}@%h",
                              f"--concurrency={args.concurrency}", "--loglevel=INFO"])

