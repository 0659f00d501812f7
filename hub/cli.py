"""``hub``: run the exchange, the demo, and the checks offices and auditors rely on.

Every command finds its home from ``--home``, else ``HUB_HOME``, else the current directory.
Exit codes: 0 ok, 1 the thing checked failed (verification, audit), 2 usage or config error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import sys
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from hub.errors import ConfigError, HubError, VerificationError
from hub.home import Home


def _dagster_instance(home: Home) -> Any:
    """The home's persistent Dagster instance (runs show up in ``hub dev``)."""
    import dagster as dg

    home.dagster.mkdir(parents=True, exist_ok=True)
    target = home.dagster / "dagster.yaml"
    if not target.exists():
        with resources.as_file(resources.files("hub") / "dagster.yaml") as src:
            shutil.copyfile(src, target)
    os.environ["DAGSTER_HOME"] = str(home.dagster)
    return dg.DagsterInstance.get()


def run_exchange(home: Home, config_path: Path | None = None, *, as_of: dt.date | None = None) -> bool:
    """Pull every source, then apply and publish what landed (two Dagster runs, in-process).

    Two runs, so that a source that cannot be reached fails its own step while the other
    institutions' data is still applied and published. True if both runs succeeded.
    """
    from hub.config import load_config
    from hub.definitions import build_definitions

    config = load_config(config_path or home.require_config())
    defs = build_definitions(home, config, config_path, as_of=as_of)
    instance = _dagster_instance(home)
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # failures are printed below
    ok = True
    for name, what in (("pull_all", "pull"), ("refresh", "normalize, check, publish")):
        result = defs.resolve_job_def(name).execute_in_process(instance=instance, raise_on_error=False, run_config=quiet)
        print(f"{what}: Dagster run {result.run_id} {'succeeded' if result.success else 'FAILED'}")
        for event in result.all_events:
            if event.is_step_failure:
                error = event.step_failure_data.error  # type: ignore[union-attr]
                while error.cause is not None:  # the hub's own message is the innermost one
                    error = error.cause
                print(f"  step {event.step_key} failed: {error.message.strip()}", file=sys.stderr)
        ok = ok and result.success
    return ok


def cmd_run(args: argparse.Namespace) -> int:
    home = Home.find(args.home)
    ok = run_exchange(home, Path(args.config).resolve() if args.config else None)
    from hub.summary import print_summary

    print_summary(home, Path(args.config).resolve() if args.config else None)
    return 0 if ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from hub.demo import exchange
    from hub.demo.sftp_server import DemoSftpServer
    from hub.summary import print_summary

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
        ok = run_exchange(home, as_of=as_of)
    print_summary(home, demo=True)
    return 0 if ok else 1


def cmd_demo_server(args: argparse.Namespace) -> int:
    """Serve a demo home's SFTP drop on the port its hub.yaml names, so ``hub run`` can pull."""
    from hub.config import load_config
    from hub.demo import exchange
    from hub.demo.sftp_server import DemoSftpServer

    home = Home.find(args.home)
    config = load_config(home.require_config())
    sftp = next(s.sftp for s in config.sources if s.sftp is not None)
    with DemoSftpServer(exchange.sftp_root(home), exchange.host_key_path(home),
                        exchange.client_public_line(home), port=sftp.port):  # type: ignore[union-attr]
        print(f"serving {exchange.sftp_root(home)} on 127.0.0.1:{sftp.port}; Ctrl-C stops")  # type: ignore[union-attr]
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from hub.verify import verify_bundle

    try:
        v = verify_bundle(
            Path(args.bundle), Path(args.keys), now=dt.datetime.now(dt.UTC),
            state_file=Path(args.state) if args.state else None,
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


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from hub import audit
    from hub.crypto import load_public_keys

    home = Home.find(args.home)
    retired = home.keys / "retired"
    try:
        trusted = load_public_keys(home.keys) if home.keys.is_dir() else {}
        n = audit.verify(home.audit, home.audit_checkpoints, trusted=trusted,
                         retired=load_public_keys(retired) if retired.is_dir() else {})
    except HubError as exc:
        print(f"BROKEN: {exc}", file=sys.stderr)
        return 1
    checkpoints = len(home.audit_checkpoints.read_text().splitlines()) if home.audit_checkpoints.exists() else 0
    print(f"OK: {n} audit entries, hash chain intact ({home.audit})")
    print(f"  {checkpoints} signed checkpoint(s) verify and match the log ({home.audit_checkpoints})")
    return 0


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    from hub import audit, keys

    home = Home.find(args.home)
    cp = audit.checkpoint(home.audit, home.audit_checkpoints, keys.signing_key(home))
    print(f"signed the head at entry {cp['seq']}" if cp else "nothing logged since the last checkpoint")
    return 0


def cmd_audit_report(args: argparse.Namespace) -> int:
    from hub import pipeline, report
    from hub.config import load_config

    home = Home.find(args.home)
    config = load_config(home.require_config())
    start = _date(args.start, "--from") if args.start else dt.date(1970, 1, 1)
    end = _date(args.end, "--to") if args.end else dt.datetime.now(dt.UTC).date()
    with pipeline.open_warehouse(config, home, read_only=True) as wh:
        result = report.build(config, home, wh, office=args.office, start=start, end=end)
    print(report.render(result))
    if args.out:
        report.write(result, Path(args.out))
        print(f"written to {args.out}")
    return 0


def cmd_reports(args: argparse.Namespace) -> int:
    """Write a quarter's statistics tables or a year's chart again, from the marts as they stand."""
    from hub import pipeline
    from hub.config import load_config

    home = Home.find(args.home)
    config = load_config(home.require_config())
    if not (args.quarter or args.year):
        raise ConfigError("say which report: --quarter 2024Q3 (statistics tables) and/or --year 2024 (chart)")
    if args.quarter and not re.fullmatch(r"[0-9]{4}Q[1-4]", args.quarter):
        raise ConfigError(f"--quarter {args.quarter!r}: write a quarter as YYYYQn, e.g. 2024Q3")
    files = pipeline.write_reports(config, home, "-", quarter=args.quarter, year=args.year,
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

    from hub import pipeline, trace
    from hub.config import load_config

    home = Home.find(args.home)
    config = load_config(home.require_config())
    if sum(x is not None for x in (args.case_no, args.record, args.bundle)) != 1:
        raise ConfigError("trace one thing: a case number, --record ID, or --bundle DIR --dataset D --row N")
    if args.bundle is not None and (args.dataset is None or args.row is None):
        raise ConfigError("--bundle needs --dataset (e.g. filing) and --row (1-based row in that dataset's file)")
    with pipeline.open_warehouse(config, home, read_only=True) as wh:
        result = trace.trace(config, home, wh, case_no=args.case_no, record=args.record,
                             bundle=Path(args.bundle) if args.bundle else None, dataset=args.dataset, row=args.row)
    print(json.dumps(result, ensure_ascii=False, indent=1, default=str) if args.json else trace.render(result))
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from hub import keys

    home = Home.find(args.home)
    if args.keys_command == "rotate":
        keyid = keys.rotate(home)
        print(f"new signing key {keyid}; publish {home.keys / (keyid + '.pem')} to the offices")
        print("the previous key still verifies until you run: hub keys retire <old keyid>")
    elif args.keys_command == "retire":
        keys.retire(home, args.keyid)
        print(f"retired {args.keyid}: offices that take the exported keyring will reject what it signed")
    elif args.keys_command == "export":
        for path in keys.export(home, Path(args.target)):
            print(path)
    else:
        for k in keys.list_keys(home):
            print(f"{k.keyid}  {k.status:<11}  {k.created:%Y-%m-%d %H:%M}Z")
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    """Open the Dagster UI on this home's definitions."""
    home = Home.find(args.home)
    home.require_config()
    _dagster_instance(home)
    os.environ["HUB_HOME"] = str(home.root)
    dagster = shutil.which("dagster") or str(Path(sys.executable).parent / "dagster")
    os.execv(dagster, [dagster, "dev", "-m", "hub.definitions", "-p", str(args.port)])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hub", description="Case-data exchange hub for courts, procuratorates and agencies.")
    sub = p.add_subparsers(dest="command", required=True)

    def with_home(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--home", help="hub home folder (default: $HUB_HOME, else the current directory)")
        return sp

    demo = with_home(sub.add_parser("demo", help="create the demo exchange and run it end to end"))
    demo.add_argument("--seed", type=int, default=20241122, help="generator seed (default: %(default)s)")
    demo.add_argument("--as-of", help="date the demo treats as today, YYYY-MM-DD (default: today)")
    demo.set_defaults(fn=cmd_demo)

    run = with_home(sub.add_parser("run", help="materialize every asset: pull, normalize, publish"))
    run.add_argument("--config", help="config file (default: <home>/hub.yaml)")
    run.set_defaults(fn=cmd_run)

    with_home(sub.add_parser("demo-server", help="serve a demo home's SFTP drop so 'hub run' can pull")).set_defaults(fn=cmd_demo_server)

    verify = sub.add_parser("verify", help="verify a signed extract bundle as an office would")
    verify.add_argument("bundle", help="bundle directory (holds manifest.dsse.json and data/)")
    verify.add_argument("--keys", required=True, help="folder of trusted public keys (*.pem)")
    verify.add_argument("--state", help="file remembering the last accepted sequence (rollback protection)")
    verify.set_defaults(fn=cmd_verify)

    aud = sub.add_parser("audit", help="audit log commands")
    aud_sub = aud.add_subparsers(dest="audit_command", required=True)
    with_home(aud_sub.add_parser("verify", help="recompute the audit log's hash chain and check its signed checkpoints")
              ).set_defaults(fn=cmd_audit_verify)
    with_home(aud_sub.add_parser("checkpoint", help="sign the audit log's head now (publishing does it too)")
              ).set_defaults(fn=cmd_audit_checkpoint)
    rep = with_home(aud_sub.add_parser("report", help="what offices received; what sources sent and what was quarantined"))
    rep.add_argument("--office", help="one office id (default: every office)")
    rep.add_argument("--from", dest="start", help="first day, YYYY-MM-DD, UTC (default: the beginning)")
    rep.add_argument("--to", dest="end", help="last day, YYYY-MM-DD, UTC, inclusive (default: today)")
    rep.add_argument("--out", help="also write the report to FILE.csv or FILE.parquet")
    rep.set_defaults(fn=cmd_audit_report)

    reps = with_home(sub.add_parser("reports", help="write a quarter's statistics tables (.xlsx, Parquet) or a year's chart"))
    reps.add_argument("--quarter", help="e.g. 2024Q3: mart_nonlit_quarterly's tables for that quarter")
    reps.add_argument("--year", type=int, help="e.g. 2024: the administrative-litigation chart for that year")
    reps.add_argument("--out", help="folder to write into (default: <home>/reports)")
    reps.set_defaults(fn=cmd_reports)

    tr = with_home(sub.add_parser("trace", help="follow a record from its source row to the offices that received it"))
    tr.add_argument("case_no", nargs="?", help="a case number, written any way (brackets, digits, spaces)")
    tr.add_argument("--record", help="a record key instead (e.g. wh-proc/乌检民监〔2024〕3号)")
    tr.add_argument("--bundle", help="a bundle folder an office holds (with --dataset and --row)")
    tr.add_argument("--dataset", help="dataset in the bundle, e.g. filing")
    tr.add_argument("--row", type=int, help="row number in that dataset's Parquet file, from 1")
    tr.add_argument("--json", action="store_true", help="print the chain as JSON")
    tr.set_defaults(fn=cmd_trace)

    keys = sub.add_parser("keys", help="the signing keyring: list, rotate, retire, export")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    with_home(keys_sub.add_parser("list", help="key ids and their status")).set_defaults(fn=cmd_keys)
    with_home(keys_sub.add_parser("rotate", help="new signer; old keys keep verifying")).set_defaults(fn=cmd_keys)
    retire = with_home(keys_sub.add_parser("retire", help="stop trusting a key (not the current signer)"))
    retire.add_argument("keyid")
    retire.set_defaults(fn=cmd_keys)
    export = with_home(keys_sub.add_parser("export", help="copy the public keyring for offices"))
    export.add_argument("target", help="folder to write <keyid>.pem and retired/<keyid>.pem into")
    export.set_defaults(fn=cmd_keys)

    dev = with_home(sub.add_parser("dev", help="open the Dagster UI (dagster dev) on this home"))
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(fn=cmd_dev)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except HubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
