"""The WSGI module, as each gunicorn worker imports it."""

from __future__ import annotations

import gc

import chm_project.wsgi as wsgi


def test_startup_objects_are_kept_out_of_full_collections():
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    wsgi.freeze_startup_objects()
    frozen = gc.get_freeze_count()
    # Django, the apps, the URL patterns and every view module they import.
    assert frozen > 20_000
    assert len(gc.get_objects(generation=2)) < frozen / 10
