"""``schoolbot annual``: Chinese by default, ``--lang en``, the office's name, one-line errors."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import docx
import pytest

from bot.cli import main
from tests.conftest import wipe
from tests.service.test_invite_cli import on_db


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.delenv("OFFICE_NAME", raising=False)
    on_db(db_url, wipe)
    yield tmp_path
    on_db(db_url, wipe)


def test_annual_prints_the_draft_in_chinese_and_writes_the_docx(cli_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = cli_db / "annual.docx"
    assert main(["annual", "--year", "2025", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("市教育局勤工俭学管理办公室2025年工作总结及2026年工作计划")
    assert "二、2026年工作思路" in printed and f"已写入 {out}" in printed
    paragraphs = [p.text for p in docx.Document(io.BytesIO(out.read_bytes())).paragraphs if p.text.strip()]
    assert paragraphs[-2] == "市教育局勤工俭学管理办公室"


def test_annual_in_english_signed_by_the_configured_office(
    cli_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OFFICE_NAME", "淮北市教育局勤工俭学管理办公室")
    assert main(["annual", "--year", "2025", "-o", str(cli_db / "a.docx"), "--lang", "en"]) == 0
    printed = capsys.readouterr().out
    assert "2. Plans for 2026" in printed and "wrote " in printed and "已写入" not in printed
    assert "淮北市教育局勤工俭学管理办公室\n" in printed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--year", "2025", "-o", "no/such/folder/a.docx"], "schoolbot: 文件夹 no/such/folder 不存在，请先建立或换一个路径"),
        (["--year", "2025", "-o", "a.docx", "--district", "火星区"], "schoolbot: 没有名为“火星区”的区县"),
        (["--year", "0001", "-o", "a.docx"], "schoolbot: 1 不是一个合理的年份"),
    ],
)
def test_annual_bad_arguments_are_one_chinese_line(
    cli_db: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["annual", *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == message and captured.out == ""
    assert not (cli_db / "a.docx").exists()
