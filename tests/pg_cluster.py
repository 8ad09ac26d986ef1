"""Throwaway PostgreSQL clusters on loopback, from the machine's PostgreSQL binaries.

Tests that stop a database, or stream it to a replica, must never touch a shared server:
each gets a cluster of its own in a temporary directory, on a free port, owned by an
unprivileged user when the tests run as root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

PG_BIN_CANDIDATES = [
    os.environ.get("CHM_PG_BIN", ""),
    "/usr/lib/postgresql/15/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/17/bin",
]
CLUSTER_SETTINGS = [
    "listen_addresses='127.0.0.1'",
    "fsync=off",  # a throwaway cluster; a clean stop still writes everything out
    "shared_buffers=16MB",
    "max_connections=40",
    "wal_level=replica",
    "max_wal_senders=4",
    "hot_standby=on",
]


def postgres_bin_dir() -> Path:
    """The directory holding initdb, pg_ctl and pg_basebackup, or skip the test saying why."""
    for candidate in PG_BIN_CANDIDATES:
        if candidate and all(
            (Path(candidate) / tool).exists() for tool in ("initdb", "pg_ctl", "pg_basebackup")
        ):
            return Path(candidate)
    pytest.skip(
        "PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found in "
        f"{[c for c in PG_BIN_CANDIDATES if c]}; set CHM_PG_BIN to their directory"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unprivileged_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    pytest.skip("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL")


class ClusterCommandError(RuntimeError):
    pass


class LocalCluster:
    def __init__(self, bin_dir: Path, root: Path, name: str, port: int) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data_dir = root / name
        self.log_file = root / f"{name}.log"
        self.port = port
        self.user = _unprivileged_user()

    # -- life cycle -------------------------------------------------------------------------

    @classmethod
    def create_primary(cls, bin_dir: Path, root: Path) -> LocalCluster:
        cluster = cls(bin_dir, root, "primary", free_port())
        cluster._run(
            "initdb",
            "-D",
            str(cluster.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        cluster._configure()
        return cluster

    def create_standby(self) -> LocalCluster:
        """A streaming replica of this (running) cluster: pg_basebackup -R."""
        standby = LocalCluster(self.bin_dir, self.root, "standby", free_port())
        self._run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-D",
            str(standby.data_dir),
            "-R",
            "-X",
            "stream",
            "--no-sync",
            "--checkpoint=fast",
        )
        standby._configure()
        return standby

    def _configure(self) -> None:
        lines = [*CLUSTER_SETTINGS, f"port={self.port}", f"unix_socket_directories='{self.root}'"]
        with (self.data_dir / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")
        self._chown()

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop")

    def stop_if_running(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(ClusterCommandError):
                self.stop("immediate")

    # -- use --------------------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement through psql and answer its unaligned output."""
        result = self._run(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-tAX",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            statement,
        )
        return result.stdout.strip()

    def wait_until(
        self, statement: str, expected: str, database: str = "postgres", timeout: float = 30
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(ClusterCommandError):
                if self.sql(statement, database) == expected:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"{statement!r} never answered {expected!r} on {self.port}")
            time.sleep(0.1)

    def _chown(self) -> None:
        if self.user is None:
            return
        for path in [self.root, *self.root.rglob("*")]:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        kwargs = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        result = subprocess.run(  # noqa: S603
            [str(self.bin_dir / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.root,
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "PGCONNECT_TIMEOUT": "5"},
            **kwargs,
        )
        if result.returncode != 0:
            log = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise ClusterCommandError(f"{tool} {' '.join(args)}: {result.stderr.strip()}\n{log}")
        return result


@contextlib.contextmanager
def temporary_cluster_root():
    root = Path(tempfile.mkdtemp(prefix="chm-pg-"))
    user = _unprivileged_user()
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
