"""``chm-synthetic-orchestrator``: the command line of CHM's synthetic data.

Two modes (docs/synthetic-data.md):

- the demo set (default): generate the files of ``--out`` from ``--seed`` (a no-op when they
  are there), then optionally ``--ingest`` them into the database of ``DATABASE_URL`` through
  the ingestion service, or ``--ingest-url URL`` through the HTTP API (one key per client:
  ``--key CLIENT=KEY``, repeated, and/or ``--keys-file PATH``), and ``--validate`` the result
  into the validation report. Progress goes to the state file; a rerun resumes.
- scale (``--runs N``, with ``--pipelines`` and ``--clients``): bulk-loads benchmark data into
  the database with COPY (``synthetic.scale``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from synthetic import generator, orchestrator
from synthetic.state import SessionState, StateMismatch

DEFAULT_STATE = orchestrator.DEFAULT_OUT / "context" / "session_state.json"
# Ingestion records name one developer's database: under var/, never committed.
DEFAULT_INGEST_STATE = Path("var/synthetic-v1.1-state.json")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chm-synthetic-orchestrator",
        description="Build, ingest and validate CHM's synthetic data; or bulk-load it at scale.",
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        default=DEFAULT_STATE,
        help=f"Generation state: parameters and file checksums (default: {DEFAULT_STATE}).",
    )
    parser.add_argument(
        "--ingest-state-file",
        type=Path,
        default=DEFAULT_INGEST_STATE,
        help="Ingestion and validation state, per target database or URL "
        f"(default: {DEFAULT_INGEST_STATE}).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=orchestrator.DEFAULT_OUT,
        help=f"Directory of the set (default: {orchestrator.DEFAULT_OUT}).",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help=f"Random seed (default: the state file's, else {generator.DEFAULT_SEED}).",
    )
    parser.add_argument("--days", type=int, default=None, help="Days of history (default: 60).")
    parser.add_argument(
        "--clients",
        type=int,
        default=None,
        help=f"Clients (default: {generator.DEFAULT_CLIENTS}; scale mode: 500).",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="Only compare the files with what the seed produces; exit 1 when they differ.",
    )
    parser.add_argument(
        "--ingest", action="store_true", help="Ingest into the database (DATABASE_URL)."
    )
    parser.add_argument("--ingest-url", help="Ingest through the HTTP API of CHM at this URL.")
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="CLIENT=KEY",
        help="A client's ingestion key, for --ingest-url (repeat per client).",
    )
    parser.add_argument(
        "--keys-file", type=Path, help="A file of CLIENT=KEY lines, for --ingest-url."
    )
    parser.add_argument(
        "--validate",
        action="store_true",
        help="Write the validation report from the database after ingestion.",
    )
    parser.add_argument(
        "--stop-after",
        type=int,
        default=None,
        metavar="N",
        help="Stop after writing or ingesting N files (simulates an interruption).",
    )
    parser.add_argument("--quiet", action="store_true", help="No progress bars.")
    scale = parser.add_argument_group("scale mode (benchmarks; writes with COPY)")
    scale.add_argument("--runs", type=int, help="Load this many runs and exit (scale mode).")
    scale.add_argument("--pipelines", type=int, default=10_000)
    scale.add_argument(
        "--replace", action="store_true", help="Delete earlier scale data before loading."
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.runs is not None:
        return _run_scale(args)
    try:
        return _run_demo_set(args)
    except (StateMismatch, ValueError, orchestrator.Interrupted) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chm_project.settings")
    import django

    django.setup()


def _run_demo_set(args: argparse.Namespace) -> int:
    recorded = SessionState.peek_parameters(args.state_file) or {}
    seed = args.seed if args.seed is not None else recorded.get("seed", generator.DEFAULT_SEED)
    days = args.days if args.days is not None else recorded.get("days", generator.DEFAULT_DAYS)
    clients = (
        args.clients
        if args.clients is not None
        else recorded.get("clients", generator.DEFAULT_CLIENTS)
    )
    data = generator.build(seed=seed, days=days, clients=clients)
    progress = not args.quiet
    if args.check:
        return _check(args.out, data)

    ingests = bool(args.ingest or args.ingest_url or args.validate)
    state = SessionState.open(
        args.state_file,
        parameters=orchestrator.parameters(seed=seed, days=days, clients=clients),
        ingest_path=args.ingest_state_file if ingests else None,
    )
    report = orchestrator.generate(
        out=args.out, state=state, data=data, stop_after=args.stop_after, progress=progress
    )
    print(f"Generated: {len(report.written)} files written, {report.skipped} already in place.")
    if not ingests:
        return 0

    setup_django()
    from synthetic import targets

    client_slugs = [c["slug"] for c in data.inventory["clients"]]

    def loaded_before() -> bool:
        # Over HTTP there is no database to look at: the state file alone decides.
        return False if args.ingest_url else targets.set_already_loaded(client_slugs)

    if args.ingest_url:
        target = args.ingest_url.rstrip("/")
        # The server must already know the clients and pipelines (load_inventory there).
        sender = targets.HttpSender(target, targets.parse_keys(args.key, args.keys_file))
    else:
        target = targets.database_target()
        sender = targets.send_direct
    if args.ingest or args.ingest_url:
        entry = state.ingestion(target)
        if (
            args.ingest
            and not (entry and entry["complete"])
            and not (entry is None and loaded_before())
        ):
            result = targets.load_base_inventory(data.inventory)
            print(f"Inventory: {result.summary()}")
        try:
            ingested = orchestrator.ingest(
                out=args.out,
                state=state,
                target=target,
                send=sender,
                already_loaded=loaded_before,
                stop_after=args.stop_after,
                progress=progress,
            )
        except (targets.KeyMissing, targets.SendFailed) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if ingested.already_loaded:
            print("The set's clients already have runs in this database: nothing to ingest.")
        else:
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(ingested.summary.items()))
            print(
                f"Ingested into {target}: {len(ingested.written)} batches"
                f" ({outcomes or 'nothing new'}), {ingested.skipped} done before."
            )
            if not args.ingest_url:
                # Over HTTP, the server's own periodic refresh does this.
                print(targets.refresh_rollup())
    if args.validate:
        return _validate(args.out, state, data, target)
    return 0


def _validate(out: Path, state: SessionState, data: generator.DataSet, target: str) -> int:
    from synthetic.validation import build_report, report_files

    entry = state.ingestion(target)
    if not entry or not entry["complete"]:
        print(
            f"error: the set is not (fully) ingested into {target}; --ingest first.",
            file=sys.stderr,
        )
        return 1
    report = build_report(
        data=data,
        shift_days=entry["shift_days"],
        outcomes=orchestrator.ingestion_totals(state, target),
    )
    checksums = {}
    for name, content in report_files(report).items():
        (out / name).write_bytes(content)
        checksums[name] = generator.sha256(content)
    state.record_validation(checksums)
    print(
        f"Validation report: {out / 'validation_report.md'} ({'ok' if report['ok'] else 'FAILURES'})"
    )
    return 0 if report["ok"] else 1


def _check(out: Path, data: generator.DataSet) -> int:
    differing = [
        name
        for name, content in data.files().items()
        if not (out / name).exists() or (out / name).read_bytes() != content
    ]
    for name in differing:
        print(f"differs from the generator: {out / name}")
    print("The files match the generator." if not differing else f"{len(differing)} files differ.")
    return 1 if differing else 0


def _run_scale(args: argparse.Namespace) -> int:
    # One COPY of half a million runs outlasts the web requests' statement timeout; a bulk
    # load run by hand is not a web request. An explicit setting still wins.
    os.environ.setdefault("DB_STATEMENT_TIMEOUT_MS", "0")
    setup_django()
    from synthetic.scale import ScaleDataExists, load_scale

    try:
        stats = load_scale(
            runs=args.runs,
            pipelines=args.pipelines,
            clients=500 if args.clients is None else args.clients,
            seed=1 if args.seed is None else args.seed,
            days=60 if args.days is None else args.days,
            replace=args.replace,
            progress=not args.quiet,
        )
    except (ScaleDataExists, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"Loaded {stats.clients} clients, {stats.pipelines} pipelines, {stats.runs} runs in "
        f"{stats.seconds:.1f} s ({stats.runs_per_second:,.0f} runs/s while copying)."
    )
    print("Status mix: " + ", ".join(f"{k} {v}" for k, v in stats.status_counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
