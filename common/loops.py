"""The ``--loop SECONDS`` mode that CHM's periodic commands share, and their heartbeat.

With ``--heartbeat-file PATH`` every pass that completes replaces PATH with the time it
completed; a pass that raises leaves the file as it was, so the file's age is the time since
the command last did its job. ``python -m common.loops --check-heartbeat PATH --max-age
SECONDS`` exits non-zero once that age is over the limit (a container health check).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import close_old_connections


def add_loop_arguments(parser: CommandParser, *, what: str) -> None:
    parser.add_argument(
        "--loop",
        type=float,
        metavar="SECONDS",
        help=f"{what} again every SECONDS seconds instead of once.",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        metavar="N",
        help="With --loop: stop after N passes (default: run until stopped).",
    )
    parser.add_argument(
        "--heartbeat-file",
        type=Path,
        metavar="PATH",
        help=(
            "After each pass that completes, replace PATH with the time it completed "
            "(a failed pass leaves it alone). Check it with "
            "`python -m common.loops --check-heartbeat PATH --max-age SECONDS`."
        ),
    )


def write_heartbeat(path: Path, *, at: dt.datetime) -> None:
    """Replace ``path`` with ``at`` in one rename: a reader sees the old beat or the new one,
    never a half-written file."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide it from a monitoring agent
        with os.fdopen(fd, "w") as file:
            file.write(at.isoformat() + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def heartbeat_problem(path: Path, *, max_age: float, now: dt.datetime) -> str | None:
    """Why the heartbeat at ``path`` is not fresh, or None when it is at most ``max_age``
    seconds old."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return f"{path}: no completed pass yet"
    except OSError as exc:
        return f"{path}: unreadable ({exc.strerror})"
    try:
        beat = dt.datetime.fromisoformat(text)
    except ValueError:
        return f"{path}: not a heartbeat ({text[:40]!r})"
    if beat.tzinfo is None:
        return f"{path}: not a heartbeat (no time zone in {text!r})"
    age = (now - beat).total_seconds()
    if age > max_age:
        return f"last completed pass {age:.0f} s ago, at {text} (limit {max_age:g} s)"
    return None


def run_passes(
    one_pass: Callable[[], object],
    *,
    name: str,
    loop: float | None,
    iterations: int | None,
    stdout: OutputWrapper,
    stderr: OutputWrapper,
    heartbeat_file: Path | None = None,
) -> None:
    """One pass, or with ``loop`` one every ``loop`` seconds until SIGTERM or Ctrl-C.

    Each pass's result is printed as one line; a failed pass is reported as "{name} failed".
    """
    if heartbeat_file is not None and not heartbeat_file.parent.is_dir():
        raise CommandError(f"--heartbeat-file: no directory {heartbeat_file.parent}.")
    if loop is None:
        stdout.write(str(one_pass()))
        _beat(heartbeat_file, stderr)
        return
    if loop <= 0:
        raise CommandError("--loop needs a positive number of seconds.")
    if iterations is not None and iterations < 1:
        raise CommandError("--iterations needs a positive number.")
    if heartbeat_file is not None:
        # A restarted loop is judged by its own passes, not by the beat its predecessor left.
        try:
            heartbeat_file.unlink(missing_ok=True)
        except OSError as exc:
            raise CommandError(f"--heartbeat-file: cannot replace {heartbeat_file}: {exc}") from exc
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # systemd and docker stop with SIGTERM: finish the current pass, then exit.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    done = 0
    try:
        while not stop.is_set():
            # A long-lived process: drop connections that PostgreSQL closed meanwhile.
            close_old_connections()
            try:
                stdout.write(str(one_pass()))
            except Exception as exc:
                # A database outage or a bug in one pass must not end the loop.
                stderr.write(f"{name} failed: {type(exc).__name__}: {exc}")
            else:
                _beat(heartbeat_file, stderr)
            done += 1
            if iterations is not None and done >= iterations:
                break
            stop.wait(loop)
    except KeyboardInterrupt:
        pass


class PeriodicCommand(BaseCommand):
    """A management command that does one pass of its work, or with ``--loop SECONDS`` one
    every SECONDS (``--iterations``, ``--heartbeat-file``: run_passes). Subclasses name the
    work and do one pass."""

    # As the work reads in --loop's help ("<verb> again every SECONDS seconds") and in the
    # report of a failed pass ("<work_name> failed: …").
    verb: str
    work_name: str

    def one_pass(self) -> object:
        """Do the work once; the answer is printed as one line."""
        raise NotImplementedError

    def add_arguments(self, parser: CommandParser) -> None:
        add_loop_arguments(parser, what=self.verb)

    def handle(
        self,
        *args: object,
        loop: float | None,
        iterations: int | None,
        heartbeat_file: Path | None,
        **options: object,
    ) -> None:
        run_passes(
            self.one_pass,
            name=self.work_name,
            loop=loop,
            iterations=iterations,
            stdout=self.stdout,
            stderr=self.stderr,
            heartbeat_file=heartbeat_file,
        )


def _beat(heartbeat_file: Path | None, stderr: OutputWrapper) -> None:
    if heartbeat_file is None:
        return
    try:
        write_heartbeat(heartbeat_file, at=dt.datetime.now(dt.UTC))
    except OSError as exc:
        # The pass itself did its work; a full disk shows up as a stale heartbeat.
        stderr.write(f"heartbeat not written to {heartbeat_file}: {exc}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common.loops",
        description="Exit 0 when a periodic command's last completed pass is recent enough.",
    )
    parser.add_argument("--check-heartbeat", type=Path, required=True, metavar="PATH")
    parser.add_argument("--max-age", type=float, required=True, metavar="SECONDS")
    args = parser.parse_args(argv)
    if args.max_age <= 0:
        parser.error("--max-age needs a positive number of seconds.")
    problem = heartbeat_problem(
        args.check_heartbeat, max_age=args.max_age, now=dt.datetime.now(dt.UTC)
    )
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
