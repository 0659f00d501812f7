"""A real OpenSSH sshd on a loopback port, for the SFTP tests and the whole-exchange benchmark.

It runs as the current user with key authentication only and the built-in ``internal-sftp``
subsystem, so paths on the server are paths on this machine. Installed by
``scripts/ensure-services.sh`` (``make test`` runs it).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from connectors.sftp import host_key_line
from hub.signing.crypto import generate_ssh_key

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


class SshdUnavailable(RuntimeError):
    """sshd is not installed or did not start; the message says what to do."""


@dataclass
class Sshd:
    port: int
    host_key: Path
    client_key: Path
    user: str
    peak_rss_kb: int = 0  # of sshd and its session processes, known once it has stopped

    @property
    def host_key_line(self) -> str:
        return host_key_line(self.host_key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_sshd(folder: Path, *, host_key: Path | None = None, client_key: Path | None = None,
                 extra_config: str = "") -> Iterator[Sshd]:
    """Start sshd with its config in ``folder``; keys are created there unless given (and kept).
    ``extra_config``: more sshd_config lines (e.g. ``Ciphers …`` to play an older server)."""
    if not os.path.exists(SSHD):
        raise SshdUnavailable("OpenSSH sshd is not installed: run scripts/ensure-services.sh (make test does) as root")
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)  # sshd wants sane parents for the key files even without StrictModes
    host_key = host_key or folder / "host_ed25519"
    client_key = client_key or folder / "client_ed25519"
    for key in (host_key, client_key):
        if not key.exists():
            generate_ssh_key(key)
    (folder / "authorized_keys").write_text(host_key_line(client_key) + "\n")
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {folder}/sshd.pid\n"
        f"AuthorizedKeysFile {folder}/authorized_keys\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        f"Subsystem sftp internal-sftp\n{extra_config}"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege-separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True)
    server = Sshd(port, host_key, client_key, getpass.getuser())
    try:
        _wait_listening(proc, port)
        yield server
    finally:
        proc.terminate()
        try:
            _, _, usage = os.wait4(proc.pid, 0)  # sshd waits for its sessions: their peak is included
            server.peak_rss_kb = usage.ru_maxrss
            proc.returncode = 0
        except ChildProcessError:
            pass
        if proc.stderr:
            proc.stderr.close()


def _wait_listening(proc: subprocess.Popen[str], port: int) -> None:
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise SshdUnavailable(f"sshd did not start: {proc.stderr.read() if proc.stderr else ''}") from None
            time.sleep(0.1)
    raise SshdUnavailable(f"sshd did not listen on 127.0.0.1:{port} within 5 s")
