"""``import-roster`` shares the chat's rules: a first import creates its districts, repeated problems are grouped,
macro-enabled and password-protected workbooks and images are refused, and the row limit stops reading."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.core.clock import FixedClock
from bot.office.roster import RosterInvalid, import_roster, parse_roster
from bot.office.roster_report import grouped_problems, line_ranges
from storage.db import Database
from tests.handlers.test_roster_chat import BAD_FILES
from tests.service.test_roster import GOOD, HEADER, cli_db, counts, csv_bytes, on_db  # noqa: F401


def test_line_ranges_join_runs_of_lines() -> None:
    assert line_ranges([2, 3, 4, 5001, 5003, 9, 8], "zh") == "2–4、8–9、5,001、5,003"
    assert line_ranges(list(range(2, 60, 2)), "en").endswith(" and more, 29 lines in all")


def test_first_import_into_an_empty_database_creates_its_districts(
    cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "schools.csv"
    path.write_bytes(csv_bytes(HEADER, *GOOD))
    assert main(["import-roster", str(path)]) == 0, "no --new-districts needed while there is no district"
    assert "新建区县：濉溪县、相山区。" in capsys.readouterr().out
    assert on_db(cli_db, counts)[:2] == (2, 3)


def test_unknown_districts_are_grouped_once_the_database_has_districts(
    cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = tmp_path / "seed.csv"
    seed.write_bytes(csv_bytes(HEADER, GOOD[0]))
    assert main(["import-roster", str(seed)]) == 0
    capsys.readouterr()
    rows = [f"HB-{n:05d},学校{n},睢溪县,rural," for n in range(5_000)]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes(HEADER, *rows))
    assert main(["import-roster", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "区县“睢溪县”不在系统中（确认无误时，导入时加上 --new-districts 以新建）：第 2–5,001 行"
    assert len(err) == 2 and "有 5000 处问题" in err[1]
    assert on_db(cli_db, counts)[:2] == (1, 1)
    assert main(["import-roster", str(bad), "--new-districts"]) == 0


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_cli_refuses_the_files_chat_refuses(name: str, cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, reason = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(data)
    assert main(["import-roster", str(path)]) == 1
    assert reason in capsys.readouterr().err
    assert on_db(cli_db, counts) == (0, 0, 0)


def test_row_limit_stops_reading_a_csv() -> None:
    data = csv_bytes(HEADER, *(f"HB-{n:05d},第{n}小学,濉溪县,rural,milk" for n in range(20_000)))
    with pytest.raises(RosterInvalid) as caught:
        parse_roster(data, "big.csv", max_rows=10_000)
    assert grouped_problems(caught.value.errors, "en") == [
        "line 10,002: too many schools: one file takes at most 10,000, and this line is past that; "
        "split the roster into several files and send them one after another (schools already imported are not duplicated)"
    ]
    assert len(parse_roster(data, "big.csv")) == 20_000, "the CLI has no limit"


async def test_import_writes_only_what_changed_and_reports_progress(db: Database, clock: FixedClock) -> None:
    rows = parse_roster(csv_bytes(HEADER, *(f"HB-{n:05d},第{n}小学,濉溪县,rural,milk" for n in range(2_100))), "r.csv")
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    result = await import_roster(db, clock.now(), rows, progress=progress)
    assert len(result.created) == 2_100 and seen == [(1_000, 2_100), (2_000, 2_100), (2_100, 2_100)]
    seen.clear()
    again = await import_roster(db, clock.now(), rows, progress=progress)
    assert len(again.unchanged) == 2_100 and seen == []
