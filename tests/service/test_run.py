"""``schoolbot run``: the console fallback without a token, long polling with one, and a token kept secret."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from bot.offline.fakeapi import FakeTelegram
from bot.core.i18n import t
from bot.runtime.observability import SecretRedactor

TOKEN = "123456789:AAtopSECRETtokenDoNotLog_xyz"
# Variables of the developer's shell that would change what ``run`` does.
_CLEARED = ("BOT_TOKEN", "WEBHOOK_URL", "WEBHOOK_SECRET", "TELEGRAM_API_URL", "DATABASE_URL", "ADMIN_IDS", "LOG_LEVEL")


def run_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a ``run``: the user's data folder (the demo database's) beside the database."""
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    data = Path(database_url.split(":///", 1)[-1]).parent / "data"
    return {**env, "DATABASE_URL": database_url, "XDG_DATA_HOME": str(data), **extra}


class Process:
    """A ``schoolbot run`` subprocess whose combined output is collected as it comes."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"gave up waiting; output so far:\n{self.output}")
            time.sleep(0.1)

    def stop(self) -> int:
        """SIGTERM (what ``docker stop`` sends), then the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self._reader.join(timeout=5)
        return status


class LoopbackBotAPI:
    """A Bot API server on 127.0.0.1 answering from ``FakeTelegram``, with one ``/start`` waiting in getUpdates."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.fake = FakeTelegram()
        self.paths: list[str] = []
        self._pending = [self._start_update()]
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status, answer = api.answer(self.path, self.headers.get("content-type", ""), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @staticmethod
    def _start_update() -> dict[str, Any]:
        user = {"id": 4242, "is_bot": False, "first_name": "Ann", "language_code": "en"}
        message = {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": 4242, "type": "private"},
            "from": user,
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        }
        return {"update_id": 1, "message": message}

    def answer(self, path: str, content_type: str, body: bytes) -> tuple[int, Any]:
        self.paths.append(path)
        prefix, _, method = path.rpartition("/")
        if prefix != f"/bot{self.token}":
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        if "json" in content_type:
            params = json.loads(body or b"{}")
        else:
            params = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if method == "getUpdates":
            updates, self._pending = self._pending, []
            if not updates:
                time.sleep(0.2)  # a long poll that found nothing
            return 200, {"ok": True, "result": updates}
        return self.fake.answer(method, params)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bot_api() -> Iterator[LoopbackBotAPI]:
    server = LoopbackBotAPI(TOKEN)
    yield server
    server.close()


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'schoolbot.db'}"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_run_without_token_falls_back_to_the_console(lang: str, tmp_path: Path) -> None:
    """The notice speaks Chinese by default (the office's language), English with --lang en."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", *(["--lang", "en"] if lang == "en" else [])],
        env=run_env(sqlite_url(tmp_path)),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == t(lang, "run.no_token")
    assert ("未设置 BOT_TOKEN" in result.stdout) is (lang == "zh")


def test_run_without_token_chats_as_the_demo_principal_on_the_demo_database(tmp_path: Path) -> None:
    office = tmp_path / "schoolbot.db"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        env=run_env(sqlite_url(tmp_path)),
        cwd=tmp_path,
        input="/help\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert t("zh", "help.intro_principal") in result.stdout
    demo = tmp_path / "data" / "schoolbot" / "demo.db"
    # The console ran on the demo's own database and said so; DATABASE_URL's was not even created.
    assert demo.exists() and not office.exists()
    assert t("zh", "demo.database", path=demo) in result.stderr


def test_run_never_prints_the_token_while_the_api_is_unreachable(tmp_path: Path) -> None:
    env = run_env(sqlite_url(tmp_path), BOT_TOKEN=TOKEN, TELEGRAM_API_URL=f"http://127.0.0.1:{closed_port()}", LOG_LEVEL="DEBUG")
    process = Process(env, tmp_path)
    try:
        # Two failed attempts: start-up is over and the retry path has logged.
        process.wait_for(lambda: process.output.count("Cannot reach the Bot API") >= 2)
    finally:
        process.stop()
    assert TOKEN not in process.output
    assert TOKEN.split(":")[1] not in process.output


def test_run_with_token_long_polls_and_answers(tmp_path: Path, bot_api: LoopbackBotAPI) -> None:
    env = run_env(
        sqlite_url(tmp_path),
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=bot_api.url,
        LOG_LEVEL="DEBUG",
    )
    process = Process(env, tmp_path)
    try:
        process.wait_for(lambda: bool(bot_api.fake.sent(4242)))
    finally:
        status = process.stop()
    assert status == 0, process.output
    assert "4242" in bot_api.fake.texts(4242)[0]
    assert f"/bot{TOKEN}/getUpdates" in bot_api.paths
    assert TOKEN not in process.output


def test_refused_token_stops_with_one_clear_line(tmp_path: Path, bot_api: LoopbackBotAPI) -> None:
    env = run_env(sqlite_url(tmp_path), BOT_TOKEN="1:wrong", TELEGRAM_API_URL=bot_api.url)
    process = Process(env, tmp_path)
    status = process.proc.wait(timeout=120)
    process.stop()
    assert status == 2
    assert t("en", "run.bad_token", api=bot_api.url) in process.output
    assert "Traceback" not in process.output and "1:wrong" not in process.output


def test_token_redactor_cleans_messages_and_tracebacks() -> None:
    redactor = SecretRedactor([TOKEN])
    try:
        raise RuntimeError(f"POST https://api.telegram.org/bot{TOKEN}/getMe failed")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "calling %s", (f"/bot{TOKEN}/x",), sys.exc_info())
    assert redactor.filter(record)
    formatted = logging.Formatter().format(record)
    assert TOKEN not in formatted and "bot<redacted>/getMe" in formatted and "getMe failed" in formatted
