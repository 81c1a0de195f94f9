"""``schoolbot export``: Chinese by default, ``--lang en``; an output it cannot write is one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.cli import main
from tests.service.test_roster import cli_db  # noqa: F401  (the fixture: the CLI on the test database)

pytestmark = pytest.mark.usefixtures("cli_db")


def export(output: object, *extra: str) -> int:
    """``schoolbot export`` of October's milk into ``output``."""
    return main(["export", "--form", "milk", "--period", "2026-10", "-o", str(output), *extra])


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_export_into_a_missing_folder_is_one_chinese_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = export("/nonexistent/x.xlsx")
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert one_line(captured.err) == "schoolbot: 无法写入 /nonexistent/x.xlsx：文件夹 /nonexistent 不存在。"
    assert export("/nonexistent/x.xlsx", "--lang", "en") == 2
    assert one_line(capsys.readouterr().err) == "schoolbot: cannot write /nonexistent/x.xlsx: folder /nonexistent does not exist"


def test_export_to_an_unwritable_path_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    # Under a file (no folder can be made there), and onto a folder.
    for output in (a_file / "x.xlsx", tmp_path):
        assert export(output) == 2
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"schoolbot: 无法写入 {output}：")
    assert a_file.read_text() == "x"


def test_export_speaks_chinese_by_default_and_english_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "milk.xlsx"
    assert export(out) == 0
    assert capsys.readouterr().out.strip() == f"已写入 {out}：0 份报表，0 项逾期未报，0 项待报。"
    assert load_workbook(out).sheetnames == ["说明", "区县汇总", "报表明细", "未报学校", "待报学校"]
    assert export(out, "--lang", "en") == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}: 0 reports, 0 missing past due, 0 not yet due"
    assert load_workbook(out).sheetnames == ["About", "By district", "Reports", "Not reported", "Not yet due"]
    assert main(["export", "--form", "uniforms", "--period", "2026-10", "-o", str(out)]) == 2
    assert one_line(capsys.readouterr().err).startswith("schoolbot: 没有报表“uniforms”")
    assert main(["export", "--form", "milk", "--period", "2026-S2", "-o", str(out)]) == 2
    assert "不是报表 milk 的期间" in one_line(capsys.readouterr().err)
