"""Secrets never printed: every CLI command at LOG_LEVEL=DEBUG with a real-looking token and a webhook secret."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.offline.fakeapi import FakeTelegram
from bot.offline.fakeserver import FakeBotApiServer
from bot.runtime.observability import SecretRedactor

TOKEN = "123456789:AAHfakefakefakefakefakefakefakefake1"
SECRET = "webhook-Secret_value-4242"
ROOT = Path(__file__).resolve().parents[2]
ROSTER = ROOT / "bot" / "demo" / "roster.csv"

# Arguments that make each command do real work; a command another change adds gets none
# (it runs, or argparse refuses it: either way its output is checked).
ARGS: dict[str, list[str]] = {
    "migrate": [],
    "demo": [],
    "import-roster": [str(ROSTER)],
    "invite": ["--all-unregistered"],
    "reminders": ["--send"],
    "summary": ["--form", "milk"],
    "export": ["--form", "milk", "-o", "out.xlsx"],
    "annual": ["-o", "out.docx"],
    "doctor": [],
    "console": ["--echo"],
    "run": [],
    "webhook": ["info"],
}
ORDER = ["migrate", "demo", "import-roster"]


def commands() -> list[str]:
    """Every subcommand ``schoolbot --help`` lists (COMMAND_MODULES, as registered)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = list(sub.choices)  # type: ignore[arg-type]
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def env_for(tmp_path: Path, api_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "TELEGRAM_", "DATABASE_", "ADMIN_", "WEBHOOK_", "LOG_", "CATALOGUE_"))
    }
    env.update(
        BOT_TOKEN=TOKEN,
        WEBHOOK_SECRET=SECRET,
        LOG_LEVEL="DEBUG",
        TELEGRAM_API_URL=api_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        # The demo's own database (demo, console) goes here, not into the real home.
        XDG_DATA_HOME=str(tmp_path / "data"),
        ADMIN_IDS="900",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


async def schoolbot(args: list[str], env: dict[str, str], cwd: Path, stdin: bytes = b"", timeout: float = 120) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(stdin), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode("utf-8", errors="replace")


def assert_clean(name: str, output: str) -> None:
    for secret, what in ((TOKEN, "token"), (TOKEN.split(":", 1)[1], "token's secret half"), (SECRET, "webhook secret")):
        assert secret not in output, f"`schoolbot {name}` printed the {what}:\n{output[-3000:]}"


async def test_every_cli_command_at_debug_never_prints_the_token_or_the_webhook_secret(tmp_path: Path) -> None:
    # The Bot API knows another token: whatever contacts it (run, doctor, reminders --send) is refused.
    async with FakeBotApiServer(FakeTelegram(), token="1:another-token") as api:
        env = env_for(tmp_path, api.url)
        outputs: dict[str, tuple[int, str]] = {}
        for name in commands():
            stdin = b"/start\n/help\n" if name == "console" else b""
            outputs[name] = await schoolbot([name, *ARGS.get(name, [])], env, tmp_path, stdin)
        refused = [r for r in api.requests if r.status == 401]
    for name, (_, output) in outputs.items():
        assert_clean(name, output)
    assert set(ARGS) <= set(outputs), "a command was renamed: update ARGS"
    # The runs did what they are for, so their output had the chance to leak.
    assert outputs["migrate"][0] == 0 and outputs["demo"][0] == 0
    assert outputs["run"][0] == 2 and "refused by the Bot API" in outputs["run"][1]
    assert outputs["doctor"][0] == 1 and "bot token" in outputs["doctor"][1]
    assert outputs["webhook"][0] == 1 and "InvalidToken" in outputs["webhook"][1]
    assert refused, "nothing asked the Bot API, so the rejected token was never shown"
    assert "DEBUG" in outputs["run"][1]


async def test_run_at_debug_logs_request_urls_with_the_token_redacted(tmp_path: Path) -> None:
    async with FakeBotApiServer(FakeTelegram(), token=TOKEN) as api:
        env = env_for(tmp_path, api.url)
        assert (await schoolbot(["migrate"], env, tmp_path))[0] == 0
        port = _free_port()
        env.update(WEBHOOK_URL=f"http://127.0.0.1:{port}/tg", WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(port))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            cwd=tmp_path,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await api.wait_for(lambda: api.fake.calls_to("getWebhookInfo"), 60, "the webhook check")
            await api.wait_for_call("setMyCommands")
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
    output = out.decode("utf-8", errors="replace")
    assert_clean("run (webhook)", output)
    # httpx's request lines are there, redacted: DEBUG shows what was called, not with what key.
    assert "bot<redacted>/getWebhookInfo" in output, output[-3000:]
    # The instance never sets the webhook (`schoolbot webhook set` does, once), so the secret is sent nowhere.
    assert api.fake.calls_to("setWebhook") == []


async def test_webhook_set_at_debug_sends_the_secret_but_never_prints_it(tmp_path: Path) -> None:
    async with FakeBotApiServer(FakeTelegram(), token=TOKEN) as api:
        env = env_for(tmp_path, api.url, WEBHOOK_URL="https://bot.example.org/tg")
        status, output = await schoolbot(["webhook", "set"], env, tmp_path)
        info_status, info = await schoolbot(["webhook", "info"], env, tmp_path)
    assert status == 0 and info_status == 0, output + info
    assert_clean("webhook set", output)
    assert_clean("webhook info", info)
    assert "bot<redacted>/setWebhook" in output
    assert api.fake.calls_to("setWebhook")[0].params["secret_token"] == SECRET


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_redactor_cleans_messages_arguments_tracebacks_and_rejected_tokens() -> None:
    redactor = SecretRedactor([TOKEN, SECRET])
    try:
        raise RuntimeError(f"The token `{TOKEN}` was rejected by the server; secret {SECRET}")
    except RuntimeError:
        record = logging.LogRecord(
            "httpx",
            logging.INFO,
            __file__,
            1,
            'HTTP Request: POST %s "%s"',
            (f"https://x/bot{TOKEN}/getMe", "401"),
            sys.exc_info(),
        )
    assert redactor.filter(record)
    formatted = logging.Formatter().format(record)
    assert TOKEN not in formatted and SECRET not in formatted
    assert "https://x/bot<redacted>/getMe" in formatted and "The token `<redacted>` was rejected" in formatted


def test_redactor_cleans_a_token_it_was_not_told_about() -> None:
    other = "987654321:AAotherotherotherotherotherotherot"
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "GET https://api.telegram.org/bot%s/getMe and %s", (other, other), None
    )
    SecretRedactor([]).filter(record)
    assert other not in record.getMessage() and "bot<redacted>/getMe" in record.getMessage()


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_cli_redacts_what_any_command_logs_or_prints_before_it_runs(
    level: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot import cli

    def probe(args: argparse.Namespace, settings: object) -> int:
        """A command written without a thought for secrets."""
        print(f"calling https://api.telegram.org/bot{TOKEN}/getMe with {SECRET}")
        print(f"failed: token {TOKEN}", file=sys.stderr)
        logging.getLogger("probe").error("token %s secret %s", TOKEN, SECRET)
        raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.add_parser("probe").set_defaults(handler=probe)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    for name, value in (("BOT_TOKEN", TOKEN), ("WEBHOOK_SECRET", SECRET), ("LOG_LEVEL", level)):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.DEBUG)
    assert cli.main(["probe"]) == 1  # the escaping exception is logged, not printed raw
    out, err = capsys.readouterr()
    logged = caplog.text
    for text in (out, err, logged):
        assert TOKEN not in text and SECRET not in text
    assert "bot<redacted>/getMe with <redacted>" in out and "failed: token <redacted>" in err
    assert "token <redacted> secret <redacted>" in logged and "The token `<redacted>` was rejected" in logged
