"""What counting one request for a rate limit costs in each store, against a round trip.

Times BENCH_RATE_LIMIT_COUNTS counts of one key (api/throttling.py, as every counted request
does) in the database store (production's default: one statement on an UNLOGGED table), in
the in-process cache (development's default), and for reference in Django's database cache,
which was tried first; the floor is a bare ``SELECT 1`` on the same connection. Prints the
mean per count and each store's ratio to the floor. Needs a migrated database (the table of
migration chm 0001); the database cache's table is created and dropped here.

    .venv/bin/python bench/rate_limit_store.py
"""

from __future__ import annotations

import os
import time

from _django_setup import setup_django  # noqa: E402

setup_django()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from api import throttling  # noqa: E402

COUNTS = int(os.environ.get("BENCH_RATE_LIMIT_COUNTS", "2000"))
CACHE_TABLE = "bench_rate_limit_cache"


def per_call_ms(call) -> float:
    for _ in range(50):
        call()
    started = time.perf_counter()
    for _ in range(COUNTS):
        call()
    return (time.perf_counter() - started) / COUNTS * 1000


def count(scope: str):
    return lambda: throttling._count(scope, "bench-key", 60)


def main() -> None:
    def select_one() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    floor = per_call_ms(select_one)
    figures = {}
    with override_settings(RATE_LIMIT_STORE="database"):
        figures["database table (production)"] = per_call_ms(count("bench-database"))
    in_process = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "b"}
    with override_settings(
        RATE_LIMIT_STORE="cache", CACHES={**settings.CACHES, "ratelimit": in_process}
    ):
        figures["in-process cache"] = per_call_ms(count("bench-locmem"))
    database_cache = {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": CACHE_TABLE,
    }
    call_command("createcachetable", CACHE_TABLE, verbosity=0)
    try:
        with override_settings(
            RATE_LIMIT_STORE="cache", CACHES={**settings.CACHES, "ratelimit": database_cache}
        ):
            figures["Django's database cache"] = per_call_ms(count("bench-dbcache"))
    finally:
        with connection.cursor() as cursor:
            cursor.execute('DROP TABLE "bench_rate_limit_cache"')
    print(f"floor: SELECT 1 round trip  {floor:8.3f} ms")
    for name, ms in figures.items():
        print(f"{name:30s} {ms:8.3f} ms per count  {ms / floor:6.2f} x the floor")


if __name__ == "__main__":
    main()
