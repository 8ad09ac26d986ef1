from __future__ import annotations

import datetime as dt

import pytest

from synthetic.orchestrator import shift_days_for, shift_items
from synthetic.targets import parse_keys


def test_the_shift_is_the_whole_days_from_the_anchor_to_today():
    assert shift_days_for(dt.date(2026, 1, 1)) == 0
    assert shift_days_for(dt.date(2026, 11, 25)) == 328


def test_shifting_moves_aware_timestamps_by_whole_days_and_leaves_bad_ones_alone():
    items = [
        {"started_at": "2025-12-31T23:30:00Z", "finished_at": "2026-01-01T00:10:05Z"},
        {"started_at": "2025-12-31T23:30:00", "status": "success"},
    ]

    shifted = shift_items(items, 3)

    assert shifted[0] == {
        "started_at": "2026-01-03T23:30:00Z",
        "finished_at": "2026-01-04T00:10:05Z",
    }
    assert shifted[1] == items[1]
    assert items[0]["started_at"] == "2025-12-31T23:30:00Z"  # the input is not modified


def test_keys_come_from_pairs_and_a_file(tmp_path):
    path = tmp_path / "keys.txt"
    path.write_text("# comment\nacme = chm_a\n\nglobex=chm_g=with-equals\n")

    keys = parse_keys(["hooli=chm_h"], path)

    assert keys == {"hooli": "chm_h", "acme": "chm_a", "globex": "chm_g=with-equals"}


def test_a_malformed_key_line_is_refused():
    with pytest.raises(ValueError, match="CLIENT=KEY"):
        parse_keys(["acme"], None)
