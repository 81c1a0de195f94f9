"""Where the demo lives: its own SQLite file, never the office's database.

``schoolbot console``, ``schoolbot demo`` and ``schoolbot run`` without a token open
the demo database unless ``--database URL`` names another::

    settings = settings_for_demo(settings, args.database, "zh")   # None (reason printed) on a bad URL

The file is ``demo.db`` in the user's data folder, ``$XDG_DATA_HOME/schoolbot/``
(``~/.local/share/schoolbot/`` when unset; ``%LOCALAPPDATA%\\schoolbot\\`` on Windows),
or ``./schoolbot-demo.db`` when that folder cannot be made (no home, read-only).
``DATABASE_URL`` is the bot's database, not the demo's: a demo that followed it would
write 31 invented schools into the office's real data the first time somebody tried
the console on the server. Only ``--database`` typed on the command line moves the demo.

Written out rather than taken from ``platformdirs``: it is not among our dependencies,
and the one folder the demo needs is two lines of the XDG rule.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from bot.core.i18n import t
from bot.settings import Settings, SettingsError, load_settings

__all__ = ["DEMO_FILE", "FALLBACK_FILE", "demo_database_path", "demo_database_url", "settings_for_demo", "settings_on"]

DEMO_FILE = "demo.db"
# In the working directory when the user's data folder cannot be used.
FALLBACK_FILE = "schoolbot-demo.db"


def _data_folder(environ: Mapping[str, str]) -> Path | None:
    """The user's data folder for schoolbot, or None when there is no home to put it in."""
    if sys.platform == "win32" and environ.get("LOCALAPPDATA"):
        return Path(environ["LOCALAPPDATA"]) / "schoolbot"
    xdg = environ.get("XDG_DATA_HOME", "")
    # The XDG spec: a relative value is invalid and is ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "schoolbot"
    home = environ.get("HOME")
    if not home:
        return None
    return Path(home) / ".local" / "share" / "schoolbot"


def demo_database_path(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """The demo's SQLite file; its folder is created (the fallback's is the working directory)."""
    environ = os.environ if environ is None else environ
    folder = _data_folder(environ)
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            folder = None
        else:
            if os.access(folder, os.W_OK):
                return folder / DEMO_FILE
    return (cwd or Path.cwd()) / FALLBACK_FILE


def demo_database_url(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    return f"sqlite+aiosqlite:///{demo_database_path(environ, cwd)}"


def settings_for_demo(settings: Settings, database: str | None, lang: str) -> Settings | None:
    """The settings the demo runs on: ``--database``, else the demo database; None after printing why not.

    With ``DATABASE_URL`` set and no ``--database``, one line on stderr says the demo is
    not using it, so nobody believes they are looking at (or writing into) the office's data.
    """
    if database:
        return settings_on(database)
    path = demo_database_path()
    if "database_url" in settings.model_fields_set:
        print(t(lang, "demo.database", path=path), file=sys.stderr)
    return settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{path}"})


def settings_on(database: str) -> Settings | None:
    """The settings with ``--database URL`` in place of ``DATABASE_URL``; None after printing a bad URL's reason."""
    try:
        return load_settings(database_url=database)
    except SettingsError as exc:
        print(f"schoolbot: {exc}", file=sys.stderr)
        return None
