"""The project app has no models. This module exists because Django sends an app's
post_migrate signal only when the app has one, and the staff roles are synced on that signal
(chm_project/roles.py)."""
