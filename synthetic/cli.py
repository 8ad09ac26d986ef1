"""``chm-synthetic-orchestrator``: the command line of CHM's synthetic data.

Two modes:

- scale (``--runs N``, with ``--pipelines`` and ``--clients``): bulk-loads benchmark data into
  the database of ``DATABASE_URL`` with COPY (``synthetic.scale``).
"""

from __future__ import annotations

import argparse
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chm-synthetic-orchestrator",
        description="Build, ingest and validate CHM's synthetic data; or bulk-load it at scale.",
    )
    parser.add_argument("--seed", type=int, default=None, help="Random seed (default: 1).")
    scale = parser.add_argument_group("scale mode (benchmarks; writes with COPY)")
    scale.add_argument("--runs", type=int, help="Load this many runs and exit (scale mode).")
    scale.add_argument("--pipelines", type=int, default=10_000)
    scale.add_argument("--clients", type=int, default=500)
    scale.add_argument("--days", type=int, default=60, help="Days of history (default: 60).")
    scale.add_argument(
        "--replace", action="store_true", help="Delete earlier scale data before loading."
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    seed = 1 if args.seed is None else args.seed
    if args.runs is not None:
        return _run_scale(args, seed=seed)
    print("Nothing to do: pass --runs N for a scale load.", file=sys.stderr)
    return 2


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chm_project.settings")
    import django

    django.setup()


def _run_scale(args: argparse.Namespace, *, seed: int) -> int:
    setup_django()
    from synthetic.scale import ScaleDataExists, load_scale

    try:
        stats = load_scale(
            runs=args.runs,
            pipelines=args.pipelines,
            clients=args.clients,
            seed=seed,
            days=args.days,
            replace=args.replace,
            progress=True,
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
