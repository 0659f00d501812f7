"""``hub``: run the exchange, the demo, and the checks offices and auditors rely on.

Every command finds its home from ``--home``, else ``HUB_HOME``, else the current directory.
Exit codes: 0 ok, 1 the thing checked failed (verification, audit), 2 usage or config error.
"""

from __future__ import annotations

import argparse
import sys

from connectors.errors import ConnectorError
from hub.cli import commands, config_files
from hub.cli.sql import FORMATS, cmd_sql
from hub.errors import ConfigError, HubError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hub", description="Case-data exchange hub for courts, procuratorates and agencies.")
    sub = p.add_subparsers(dest="command", required=True)

    def with_home(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--home", help="hub home folder (default: $HUB_HOME, else the current directory)")
        return sp

    demo = with_home(sub.add_parser("demo", help="create the demo exchange and run it end to end"))
    demo.add_argument("--seed", type=int, default=20241122, help="generator seed (default: %(default)s)")
    demo.add_argument("--as-of", help="date the demo treats as today, YYYY-MM-DD (default: today)")
    demo.set_defaults(fn=commands.cmd_demo)

    run = with_home(sub.add_parser("run", help="materialize every asset: pull, normalize, publish"))
    run.add_argument("--config", help="config file (default: <home>/hub.yaml)")
    run.set_defaults(fn=commands.cmd_run)

    with_home(sub.add_parser("demo-server", help="serve a demo home's SFTP drop so 'hub run' can pull")).set_defaults(fn=commands.cmd_demo_server)

    verify = sub.add_parser("verify", help="verify a signed extract bundle as an office would")
    verify.add_argument("bundle", help="bundle directory (holds manifest.dsse.json and data/)")
    verify.add_argument("--keys", required=True, help="folder of trusted public keys (*.pem)")
    verify.add_argument("--state", help="file remembering the last accepted sequence (rollback protection)")
    verify.add_argument("--office", help="the office verifying: a bundle made for another office is refused")
    verify.add_argument("--witness", help="file keeping the hub's audit checkpoints the bundles carried (a fork is refused)")
    verify.set_defaults(fn=commands.cmd_verify)

    aud = sub.add_parser("audit", help="audit log commands")
    aud_sub = aud.add_subparsers(dest="audit_command", required=True)
    audit_verify = with_home(aud_sub.add_parser("verify", help="recompute the audit log's hash chain and check its "
                                                               "signed checkpoints"))
    audit_verify.add_argument("--witness", action="append", default=[],
                              help="an office's file of the checkpoints its bundles carried (repeatable)")
    audit_verify.set_defaults(fn=commands.cmd_audit_verify)
    with_home(aud_sub.add_parser("checkpoint", help="sign the audit log's head now (publishing does it too)")
              ).set_defaults(fn=commands.cmd_audit_checkpoint)
    rep = with_home(aud_sub.add_parser("report", help="what offices received; what sources sent and what was quarantined"))
    rep.add_argument("--office", help="one office id (default: every office)")
    rep.add_argument("--from", dest="start", help="first day, YYYY-MM-DD, UTC (default: the beginning)")
    rep.add_argument("--to", dest="end", help="last day, YYYY-MM-DD, UTC, inclusive (default: today)")
    rep.add_argument("--out", help="also write the report to FILE.csv or FILE.parquet")
    rep.set_defaults(fn=commands.cmd_audit_report)

    rpr = with_home(aud_sub.add_parser("reproduce", help="rebuild a bundle's files from the warehouse snapshot it names"))
    rpr.add_argument("bundle", help="bundle folder (in the outbox, or a copy)")
    rpr.set_defaults(fn=commands.cmd_audit_reproduce)

    reps = with_home(sub.add_parser("reports", help="write a quarter's statistics tables (.xlsx, Parquet) or a year's chart"))
    reps.add_argument("--quarter", help="e.g. 2024Q3: mart_nonlit_quarterly's tables for that quarter")
    reps.add_argument("--year", type=int, help="e.g. 2024: the administrative-litigation chart for that year")
    reps.add_argument("--out", help="folder to write into (default: <home>/reports)")
    reps.set_defaults(fn=commands.cmd_reports)

    tr = with_home(sub.add_parser("trace", help="follow a record from its source row to the offices that received it"))
    tr.add_argument("case_no", nargs="?", help="a case number, written any way (brackets, digits, spaces)")
    tr.add_argument("--record", help="a record key instead (e.g. wh-proc/乌检民监〔2024〕3号)")
    tr.add_argument("--bundle", help="a bundle folder an office holds (with --dataset and --row)")
    tr.add_argument("--dataset", help="dataset in the bundle, e.g. filing")
    tr.add_argument("--row", type=int, help="row number in that dataset's Parquet file, from 1")
    tr.add_argument("--json", action="store_true", help="print the chain as JSON")
    tr.set_defaults(fn=commands.cmd_trace)

    keys = sub.add_parser("keys", help="the signing keyring: list, rotate, retire, export")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    with_home(keys_sub.add_parser("list", help="key ids and their status")).set_defaults(fn=commands.cmd_keys)
    with_home(keys_sub.add_parser("rotate", help="new signer; old keys keep verifying")).set_defaults(fn=commands.cmd_keys)
    with_home(keys_sub.add_parser("protect", help="encrypt the private keys under the passphrase hub.signing_passphrase_env names")
              ).set_defaults(fn=commands.cmd_keys)
    retire = with_home(keys_sub.add_parser("retire", help="stop trusting a key (not the current signer)"))
    retire.add_argument("keyid")
    retire.set_defaults(fn=commands.cmd_keys)
    export = with_home(keys_sub.add_parser("export", help="copy the public keyring for offices"))
    export.add_argument("target", help="folder to write <keyid>.pem and retired/<keyid>.pem into")
    export.set_defaults(fn=commands.cmd_keys)

    office = sub.add_parser("office", help="the office kit: take in this office's bundles, show what it holds")
    office_sub = office.add_subparsers(dest="office_command", required=True)
    receive = office_sub.add_parser("receive", help="verify and apply the bundles waiting in the inbox, in order")
    receive.add_argument("--config", help="the office kit's settings file (office.yaml), instead of the options "
                                          "below; it may name an SFTP inbox to mirror")
    receive.add_argument("--inbox", help="folder the hub delivers this office's bundles to")
    receive.add_argument("--store", help="the office's DuckDB file (made if missing), or a SQLAlchemy URL of its "
                                         "database, without the password")
    receive.add_argument("--store-password-env", help="variable holding the password of the --store database")
    receive.add_argument("--keys", help="folder of the hub keys the office was installed with (*.pem)")
    receive.add_argument("--office", help="this office's id: another office's bundle is refused")
    receive.add_argument("--identity", help="this office's age identity file, for encrypted bundles")
    receive.add_argument("--witness", help="file keeping the hub's audit checkpoints seen (default: beside the store)")
    receive.add_argument("--key", help="this office's signing key (`hub office keygen`): each bundle applied is "
                                       "acknowledged, signed, in the inbox's acknowledgements/ folder")
    receive.add_argument("--passphrase-env", help="variable holding the passphrase of an encrypted --key")
    receive.set_defaults(fn=commands.cmd_office)
    keygen = office_sub.add_parser("keygen", help="make this office's signing key; the hub registers its .pem")
    keygen.add_argument("--private", required=True, help="folder for the private key (made 0700)")
    keygen.add_argument("--public", required=True, help="folder for the public key (.pem) to give the hub")
    keygen.add_argument("--passphrase-env", help="variable holding a passphrase to encrypt the private key under")
    keygen.set_defaults(fn=commands.cmd_office_keygen)
    status = office_sub.add_parser("status", help="what the office's store holds: last bundle, rows per table")
    status.add_argument("--store", help="the office's DuckDB file, or its database URL")
    status.add_argument("--store-password-env", help="variable holding the password of the --store database")
    status.add_argument("--config", help="the office kit's settings file, naming the store")
    status.set_defaults(fn=commands.cmd_office)

    batches = sub.add_parser("batches", help="landed batches set aside (could not be staged): list, release, drop")
    batches_sub = batches.add_subparsers(dest="batches_command", required=True)
    listing = with_home(batches_sub.add_parser("list", help="batches waiting, with why"))
    listing.add_argument("--all", action="store_true", help="also the ones dropped")
    listing.set_defaults(fn=commands.cmd_batches)
    release = with_home(batches_sub.add_parser("release", help="apply it at the next run (after fixing hub.yaml)"))
    release.add_argument("batch_id", help="the batch id, or its first characters as 'list' shows them")
    release.set_defaults(fn=commands.cmd_batches)
    give_up = with_home(batches_sub.add_parser("drop", help="give it up for good; it no longer holds back extracts"))
    give_up.add_argument("batch_id")
    give_up.add_argument("--reason", required=True, help="why, for the audit log")
    give_up.set_defaults(fn=commands.cmd_batches)

    with_home(sub.add_parser("migrate", help="move a single-file warehouse (before the lakehouse) into the lakehouse")
              ).set_defaults(fn=commands.cmd_migrate)

    cfg = sub.add_parser("config", help="hub.yaml: check it and the files it includes")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    check = with_home(cfg_sub.add_parser("check", help="validate as 'hub run' would, and count what it declares"))
    check.add_argument("--config", help="the config file (default: <home>/hub.yaml)")
    check.set_defaults(fn=config_files.cmd_config_check)
    gen = cfg_sub.add_parser("generate", help="a file per row of a table (a province's courts) from one template, "
                             "for hub.yaml's include:")
    gen.add_argument("--template", required=True, help="an included file with ${column} where a row's value goes")
    gen.add_argument("--table", required=True, help="the rows: CSV (UTF-8), a header of column names")
    gen.add_argument("--out", required=True, help="the folder to write into (hub.yaml includes <out>/*.yaml)")
    gen.add_argument("--name", default="${id}.yaml", help="each file's name (default: %(default)s)")
    gen.set_defaults(fn=config_files.cmd_config_generate)

    sql = with_home(sub.add_parser("sql", help="query the warehouse read-only: one query, or a SQL shell"))
    sql.add_argument("query", nargs="?", help="SQL to run (default: statements from stdin, or a shell)")
    sql.add_argument("--snapshot", type=int, help="read the warehouse as it was at this snapshot id")
    sql.add_argument("--format", choices=FORMATS, default="table", help="how to print results (default: %(default)s)")
    sql.set_defaults(fn=cmd_sql)

    dev = with_home(sub.add_parser("dev", help="open the Dagster UI (dagster dev) on this home"))
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(fn=commands.cmd_dev)
    with_home(sub.add_parser("daemon", help="run the schedules, the sensor, the run queue and run retries "
                             "(Dagster's daemon), without the UI")).set_defaults(fn=commands.cmd_daemon)
    worker = with_home(sub.add_parser("worker", help="run steps sent by the production profile's runs (a Celery worker)"))
    worker.add_argument("--name", default="hub", help="the worker's name, unique on its machine (default: hub)")
    worker.add_argument("--concurrency", type=int, default=1, help="steps this worker runs at once (default: 1)")
    worker.set_defaults(fn=commands.cmd_worker)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except (HubError, ConnectorError) as exc:  # a connector's own, where a command calls one directly
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
