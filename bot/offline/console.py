"""The offline console: chat with the real bot in a terminal, no token, no network.

``schoolbot console`` builds the very same application as production
(``build_application``) on the in-memory Bot API (``bot.offline.fakeapi``), loads the
demo roster and demo people, and lets a person type as one of them::

    $ schoolbot console --as principal
    王校长 › /language
    机器人 › 请选择界面语言：
        [#1] 中文   [#2] English
    王校长 › #2
    机器人（已编辑）› OK, I will speak English with you from now on.

A typed line goes to the bot as a message (a bare number too: it answers a
question); ``#1`` or ``/press 1`` presses a shown button; lines starting with ``:`` are console commands
(``:help``, ``:as staff``, ``:sticker``, ``:quit``) and never reach the bot.
Piped stdin works too (no prompts, exit 0 at end of input), so a session can
be scripted: ``printf '/start\\n/help\\n' | schoolbot console --as new``.

The database is whatever ``settings`` names (``schoolbot console`` passes its own
demo database, ``bot.offline.demodb``). One that holds a real roster is refused
before anything is written to it, migrations included (``NotADemoDatabase``).
Update ids continue after the newest one a draft has taken, so a draft left by an
earlier session answers its buttons in this one.

The app runs on an event loop in a helper thread while the main thread reads
input: ``input()`` then keeps readline editing and Ctrl-C behaves as in any
terminal program, and messages the bot sends on its own (a broadcast sender,
reminders) are printed as they arrive.

The same loop serves the office dashboard on 127.0.0.1 (``DASHBOARD_PORT``, else 8080, else
any free port); the banner prints a one-time link for the demo admin (``/dashboard`` as
``:as staff`` or ``:as admin`` sends another).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

import tornado.httpserver
import tornado.netutil

from bot.app import App, build_application, services_of, start_services, stop_services
from bot.core.clock import SystemClock
from bot.core.i18n import t
from bot.dashboard.links import issue_link
from bot.dashboard.server import Dashboard, make_dashboard_app
from bot.offline.consolechat import USER_KEYS, Console, ConsoleError, RecordingTelegram, demo_users
from bot.offline.demo import NotADemoDatabase, load_demo_people, load_demo_roster, migrate_for_demo
from bot.offline.fakeapi import FakeRequest
from bot.settings import DEFAULT_DASHBOARD_PORT, Settings
from storage.db import Database
from storage.drafts import last_update_id_seen

T = TypeVar("T")

# How often messages the bot sends on its own (not in answer to a line) are looked for.
POLL_SECONDS = 0.2
# At the end of piped input, wait this long for late messages before leaving.
SETTLE_SECONDS = 0.3
SETTLE_MAX_SECONDS = 5.0


async def prepare_database(settings: Settings, now: datetime) -> Database:
    """Migrate the configured database and load the demo roster and people (idempotent).

    :class:`~bot.offline.demo.NotADemoDatabase` when it already has a roster that is not
    the demo's: checked before migrating, so such a database is left exactly as it was.
    """
    db = Database(settings.database_url)
    try:
        await migrate_for_demo(db)
        await load_demo_roster(db, now)
        await load_demo_people(db, now)
    except BaseException:
        await db.dispose()
        raise
    return db


class _LoopThread:
    """An event loop on a helper thread; the main thread submits coroutines and waits for them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="schoolbot-console", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


async def open_console(
    settings: Settings,
    *,
    who: str | int = "principal",
    lang: str = "zh",
    out: TextIO,
    out_dir: Path | None = None,
    echo: bool = False,
) -> Console:
    """Migrate, load the demo, build and initialise the app; return a console typing as ``who``."""
    users = demo_users()
    admin = users.get("admin")
    if admin is not None:
        # The demo admin is an admin only if the app believes so: admins come from ADMIN_IDS.
        settings = settings.model_copy(update={"admin_ids": settings.admin_ids | {admin.telegram_id}})
    clock = SystemClock(settings.timezone)
    db = await prepare_database(settings, clock.now())
    fake = RecordingTelegram()
    async with db.session() as session:
        fake.continue_update_ids(await last_update_id_seen(session))
    application = build_application(settings, request=FakeRequest(fake), db=db, clock=clock)
    try:
        await application.initialize()
        # post_init runs only under run_polling; start what it starts so menus match production.
        await start_services(application)
        console = Console(application, fake, users, lang=lang, out=out, out_dir=out_dir, echo=echo)
        # Menus set at start-up are not chat, so they are not shown.
        console._seen = len(fake.results)
        await console.switch(who)
    except BaseException:
        await close_console_app(application)
        raise
    return console


async def close_console_app(application: App) -> None:
    try:
        await application.shutdown()
    finally:
        await stop_services(application)


async def _watch(console: Console, stop: asyncio.Event) -> None:
    """Print messages the bot sends on its own between typed lines."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), POLL_SECONDS)
        except TimeoutError:
            if not console.busy:
                console.render()


async def _settle(console: Console) -> None:
    """Give background senders a moment to finish, then print what they sent."""
    waited = 0.0
    seen = -1
    while waited < SETTLE_MAX_SECONDS and seen != len(console.fake.results):
        seen = len(console.fake.results)
        await asyncio.sleep(SETTLE_SECONDS)
        waited += SETTLE_SECONDS
    console.render()


@dataclass(frozen=True)
class ConsoleDashboard:
    """The dashboard a console session serves on loopback, and a one-time link for the demo admin."""

    server: tornado.httpserver.HTTPServer
    link: str


def console_dashboard_sockets(settings: Settings) -> list[socket.socket]:
    """Loopback sockets for the console's dashboard: DASHBOARD_PORT (else 8080), any free port if taken."""
    try:
        return tornado.netutil.bind_sockets(settings.dashboard_port or DEFAULT_DASHBOARD_PORT, address="127.0.0.1")
    except OSError:
        return tornado.netutil.bind_sockets(0, address="127.0.0.1")


async def serve_console_dashboard(application: App, sockets: list[socket.socket]) -> ConsoleDashboard:
    """Serve the dashboard on ``sockets`` (on this loop) and issue the demo admin a one-time link to it."""
    services = services_of(application)
    server = tornado.httpserver.HTTPServer(make_dashboard_app(Dashboard(services, application.bot.token)))
    server.add_sockets(sockets)
    admin = demo_users()["admin"]
    link = await issue_link(services, admin.telegram_id, services.clock.now())
    assert link is not None  # the console always sets DASHBOARD_URL
    return ConsoleDashboard(server, link)


def quiet_logging(settings: Settings) -> None:
    """Keep routine INFO logs (one line per update) out of the chat; LOG_LEVEL=DEBUG still shows all."""
    if settings.log_level.upper() in ("INFO", "WARNING"):
        logging.getLogger().setLevel(logging.WARNING)


def run_console(
    settings: Settings,
    *,
    who: str | int = "principal",
    lang: str = "zh",
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    interactive: bool | None = None,
    out_dir: Path | None = None,
    echo: bool = False,
) -> int:
    """Run a console session until ``:quit`` or end of input; return the exit status."""
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    if interactive is None:
        interactive = _isatty(stdin)
    read = _line_reader(stdin, stdout, interactive)
    # The office dashboard on loopback; its links (/dashboard, 📊) point here.
    sockets = console_dashboard_sockets(settings)
    settings = settings.model_copy(update={"dashboard_url": f"http://127.0.0.1:{sockets[0].getsockname()[1]}"})
    runner = _LoopThread()
    try:
        try:
            console = runner.run(open_console(settings, who=who, lang=lang, out=stdout, out_dir=out_dir, echo=echo))
            dashboard = runner.run(serve_console_dashboard(console.app, sockets))
        except ConsoleError as exc:
            stdout.write(f"{exc}\n")
            return 2
        except NotADemoDatabase as exc:
            # Nothing to show: the demo people are not in that database, so every answer would
            # be "not registered". One line says why, and how to get the demo.
            stdout.write(t(lang, "demo.refused", schools=exc.schools) + "\n")
            return 2
        stop = asyncio.Event()
        watcher = asyncio.run_coroutine_threadsafe(_watch(console, stop), runner.loop)
        try:
            if interactive:
                console.write(t(console.lang, "console.banner"))
                console.write(t(console.lang, "console.dashboard_link", url=dashboard.link))
                console.write(console.who_line())
            line: str | None = None
            interrupted = False
            try:
                while (line := read(console.prompt)) is not None and runner.run(console.handle(line)):
                    pass
            except KeyboardInterrupt:
                interrupted = True
            if interactive and (line is None or interrupted):
                # Ctrl-D and Ctrl-C leave the cursor after the prompt.
                stdout.write("\n")
            if not interrupted:
                runner.run(_settle(console))
        finally:
            runner.loop.call_soon_threadsafe(stop.set)
            watcher.result(timeout=5)
            dashboard.server.stop()
            runner.run(close_console_app(console.app))
        if interactive:
            console.write(t(console.lang, "console.bye"))
        return 0
    finally:
        runner.close()
        for sock in sockets:
            sock.close()


def _line_reader(stdin: TextIO, stdout: TextIO, interactive: bool) -> Callable[[str], str | None]:
    """What reads one line: ``input()`` with a prompt in a terminal, plain reads from a pipe."""
    if not interactive:
        return lambda _prompt: stdin.readline() or None
    try:
        import readline  # noqa: F401  (gives input() line editing and history)
    except ImportError:
        pass
    return _interactive_reader(stdin, stdout)


def _interactive_reader(stdin: TextIO, stdout: TextIO) -> Callable[[str], str | None]:
    def read(prompt: str) -> str | None:
        if stdin is sys.stdin and stdout is sys.stdout:
            try:
                return input(prompt)
            except EOFError:
                return None
        stdout.write(prompt)
        stdout.flush()
        return stdin.readline() or None

    return read


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# The chat itself lives in bot.offline.consolechat; importing it from here keeps working.
__all__ = [
    "USER_KEYS",
    "close_console_app",
    "open_console",
    "prepare_database",
    "quiet_logging",
    "run_console",
]
