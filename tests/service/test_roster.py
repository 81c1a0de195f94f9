"""Roster import: reading CSV/XLSX rosters, refusing bad ones whole, upserting idempotently."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import openpyxl
import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.core.clock import FixedClock
from bot.office.roster import RosterInvalid, RosterRow, import_roster, known_programmes, parse_roster
from storage.db import Database
from storage.models import AuditEntry, District, School, SchoolProgramme
from tests.conftest import wipe

T = TypeVar("T")
ZHANG = "张".encode()
DAMAGED_ZHANG = ZHANG[:1] + b"A" + ZHANG[2:]  # invalid UTF-8, yet GB18030 reads the file

HEADER = "code,name,district,area,programmes"
GOOD = [
    "HB-SX-001,双堆集镇邹圩小学,濉溪县,rural,farm;insurance",
    "HB-SX-002,五沟镇袁店中心校,濉溪县,农村,farm",
    "hb-xs-003 ,淮北市第一实验小学,相山区,城区,milk;insurance",
]


def csv_bytes(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def refusal(data: bytes, filename: str = "roster.csv") -> list[str]:
    with pytest.raises(RosterInvalid) as caught:
        parse_roster(data, filename)
    return caught.value.messages("en")


# --- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_is_read_in_utf8_bom_and_gb18030(encoding: str) -> None:
    rows = parse_roster(csv_bytes(HEADER, *GOOD, encoding=encoding), "roster.csv")
    assert rows == [
        RosterRow(2, "HB-SX-001", "双堆集镇邹圩小学", "濉溪县", "rural", ("farm", "insurance")),
        RosterRow(3, "HB-SX-002", "五沟镇袁店中心校", "濉溪县", "rural", ("farm",)),
        RosterRow(4, "HB-XS-003", "淮北市第一实验小学", "相山区", "urban", ("insurance", "milk")),
    ]


def test_gb18030_file_on_disk_is_read(tmp_path: Path) -> None:
    path = tmp_path / "学校名单.csv"
    path.write_bytes(csv_bytes(HEADER, *GOOD, encoding="gb18030"))
    assert [row.name for row in parse_roster(path)] == ["双堆集镇邹圩小学", "五沟镇袁店中心校", "淮北市第一实验小学"]


def test_chinese_headers_area_words_and_programme_names_are_understood() -> None:
    data = csv_bytes(
        "学校代码,学校名称,区县,城乡,项目,备注",
        "ＨＢ００１,张庄中学,杜集区,乡村,劳动实践基地；校方责任险,试点学校",
        "HB002,前黄小学,相山区,城市,学生饮用奶、 milk",
        "HB003,孙土楼中学,杜集区,Rural,",
    )
    rows = parse_roster(data, "roster.csv")
    assert [(r.code, r.area, r.programmes) for r in rows] == [
        ("HB001", "rural", ("farm", "insurance")),
        ("HB002", "urban", ("milk",)),
        ("HB003", "rural", ()),
    ]


def test_semicolon_separated_csv_from_european_excel_is_read() -> None:
    data = csv_bytes("code;name;district;area;programmes", 'HB001;邹圩小学;濉溪县;rural;"farm;milk"')
    assert parse_roster(data, "roster.csv")[0].programmes == ("farm", "milk")


def test_blank_lines_are_skipped_and_line_numbers_stay_true() -> None:
    with pytest.raises(RosterInvalid) as caught:
        parse_roster(csv_bytes(HEADER, "", GOOD[0], ",,,,", "HB002,袁店中心校,濉溪县,town,"), "r.csv")
    assert caught.value.messages() == ["line 5: unknown area 'town'; use urban (城区) or rural (农村)"]


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_is_read_with_numeric_codes_and_sheet_row_numbers() -> None:
    data = xlsx_bytes(
        [
            ["学校代码", "学校名称", "区县", "城乡", "项目"],
            [3406210001, "双堆集镇邹圩小学", "濉溪县", "农村", "farm;insurance"],
            [None, None, None, None, None],
            ["3406210002", "五沟镇袁店中心校", "濉溪县", "rural", None],
        ]
    )
    rows = parse_roster(data, "roster.xlsx")
    assert [(r.line, r.code, r.programmes) for r in rows] == [
        (2, "3406210001", ("farm", "insurance")),
        (4, "3406210002", ()),
    ]


def test_xlsx_bad_row_is_reported_with_its_sheet_row() -> None:
    data = xlsx_bytes([["code", "name", "district", "area", "programmes"], ["A1", "甲", "濉溪县", "rural", "cows"]])
    assert refusal(data, "roster.xlsx") == ["line 2: unknown programme 'cows'; known programmes: farm, insurance, milk"]


def test_catalogue_programmes_are_allowed() -> None:
    assert {"farm", "milk", "insurance"} <= known_programmes()
    rows = parse_roster(csv_bytes(HEADER, "HB001,甲,濉溪县,rural,uniform"), "r.csv", programmes={"uniform"})
    assert rows[0].programmes == ("uniform",)


# --- refusing bad files, every bad row named ---------------------------------------------------


def test_missing_columns_are_named() -> None:
    assert refusal(csv_bytes("code,name,district", "HB001,邹圩小学,濉溪县")) == [
        "line 1: the header lacks column(s): area, programmes; the columns are code,name,district,area,programmes"
        " (or 学校代码,学校名称,区县,城乡,项目)"
    ]


def test_a_column_given_twice_is_refused() -> None:
    messages = refusal(csv_bytes("code,学校代码,name,district,area,programmes", "A,B,甲,濉溪县,rural,"))
    assert messages == ['line 1: the header names column "code" more than once']


def test_duplicate_code_names_both_lines() -> None:
    messages = refusal(csv_bytes(HEADER, GOOD[0], GOOD[1], "hb-sx-001,重复学校,濉溪县,rural,"))
    assert messages == ["line 4: school code 'HB-SX-001' is already used on line 2"]


def test_every_bad_row_is_reported_not_only_the_first() -> None:
    messages = refusal(
        csv_bytes(
            HEADER,
            GOOD[0],
            ",无代码学校,濉溪县,rural,",
            "HB 9,坏代码,濉溪县,rural,",
            "HB010,,濉溪县,suburb,milk;cows",
            "HB011,甲,濉溪县,rural,milk,extra",
        )
    )
    assert messages == [
        "line 3: code is empty",
        "line 4: school code 'HB 9' may hold only letters, digits and - _ . (at most 32 characters)",
        "line 5: name is empty",
        "line 5: unknown area 'suburb'; use urban (城区) or rural (农村)",
        "line 5: unknown programme 'cows'; known programmes: farm, insurance, milk",
        "line 6: this row has more cells than the header (a comma inside a value that is not quoted?)",
    ]


def test_reasons_read_in_chinese_for_a_chat_upload() -> None:
    with pytest.raises(RosterInvalid) as caught:
        parse_roster(csv_bytes(HEADER, "HB001,甲,濉溪县,郊区,"), "r.csv")
    assert caught.value.messages("zh") == ["第 2 行：城乡“郊区”无法识别，请填写 城区 或 农村（urban 或 rural）。"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"", "line 1: the file is empty", id="empty"),
        pytest.param(b"\xef\xbb\xbf\r\n  \r\n", "line 1: the file is empty", id="bom-and-blank-lines"),
        pytest.param(csv_bytes(HEADER), "line 1: there are no schools under the header", id="header-only"),
        pytest.param(csv_bytes(HEADER, *GOOD, encoding="utf-16"), "line 1: the file is UTF-16 text", id="utf-16"),
        pytest.param(csv_bytes(HEADER, *GOOD, encoding="utf-16-le"), "line 1: the file is UTF-16 text", id="utf-16-no-bom"),
        pytest.param(
            csv_bytes(HEADER, GOOD[0]) + b"HB002,\xff\xfe\xfd,x,rural,\r\n",
            "line 3: the file is neither UTF-8 nor GB18030 text (cannot read byte 0xFF)",
            id="garbage-bytes",
        ),
        pytest.param(
            csv_bytes(HEADER, GOOD[0]) + b"\x89PNG\x00\x00",
            "line 3: the file holds binary data, not CSV text",
            id="binary",
        ),
        pytest.param(
            # UTF-8 with one damaged byte, which GB18030 would happily read as 閭瑰湬-style nonsense.
            csv_bytes(HEADER, "HB001,邹圩,杜集,rural,", "HB002,张庄,杜集,rural,").replace(ZHANG, DAMAGED_ZHANG),
            "line 3: the file is neither UTF-8 nor GB18030 text (cannot read byte 0xE5)",
            id="damaged-utf8",
        ),
        pytest.param(
            # The same, damaged at its very first Chinese character.
            csv_bytes(HEADER, "HB001,张庄,杜集,rural,", "HB002,前黄,相山,urban,", "HB003,青杨,相山,urban,").replace(
                ZHANG, DAMAGED_ZHANG
            ),
            "line 2: the file is neither UTF-8 nor GB18030 text (cannot read byte 0xE5)",
            id="damaged-utf8-first-character",
        ),
        pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "line 1: this is an old Excel .xls", id="xls"),
        pytest.param(b"PK\x03\x04garbage", "line 1: the file cannot be opened as an .xlsx workbook", id="bad-xlsx"),
    ],
)
def test_unreadable_files_are_refused_with_line_and_reason(data: bytes, expected: str) -> None:
    messages = refusal(data)
    assert len(messages) == 1 and messages[0].startswith(expected), messages


def test_a_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        parse_roster(tmp_path / "nope.csv")


# --- importing ----------------------------------------------------------------------------------


async def counts(db: Database) -> tuple[int, int, int]:
    async with db.session() as session:
        return (
            int(await session.scalar(select(func.count()).select_from(District)) or 0),
            int(await session.scalar(select(func.count()).select_from(School)) or 0),
            int(await session.scalar(select(func.count()).select_from(SchoolProgramme)) or 0),
        )


async def test_import_creates_schools_and_reimport_changes_nothing(db: Database, clock: FixedClock) -> None:
    rows = parse_roster(csv_bytes(HEADER, *GOOD), "r.csv")
    first = await import_roster(db, clock.now(), rows, new_districts=True)
    assert (len(first.created), len(first.updated), len(first.unchanged)) == (3, 0, 0)
    assert set(first.new_districts) == {"濉溪县", "相山区"}
    assert first.summary() == "roster imported: 3 new, 0 updated, 0 unchanged. New districts: 濉溪县、相山区."
    before = await counts(db)
    assert before == (2, 3, 5)

    again = await import_roster(db, clock.now(), rows, new_districts=False)
    assert (len(again.created), len(again.updated), len(again.unchanged)) == (0, 0, 3)
    assert again.new_districts == ()
    assert await counts(db) == before


async def test_reimport_updates_changed_schools_in_place(db: Database, clock: FixedClock) -> None:
    await import_roster(db, clock.now(), parse_roster(csv_bytes(HEADER, *GOOD), "r.csv"), new_districts=True)
    changed = csv_bytes(
        HEADER,
        "HB-SX-001,濉溪县双堆集镇邹圩小学,濉溪县,rural,farm;insurance",  # renamed
        "HB-SX-002,五沟镇袁店中心校,相山区,urban,milk",  # moved, re-programmed
        GOOD[2],
        "HB-SX-004,周大庄小学,濉溪县,rural,insurance",  # new
    )
    result = await import_roster(db, clock.now(), parse_roster(changed, "r.csv"))
    assert (result.created, result.updated, result.unchanged) == (
        ("HB-SX-004",),
        ("HB-SX-001", "HB-SX-002"),
        ("HB-XS-003",),
    )
    async with db.session() as session:
        schools = {s.code: s for s in (await session.scalars(select(School))).all()}
    assert len(schools) == 4
    assert schools["HB-SX-001"].name == "濉溪县双堆集镇邹圩小学"
    moved = schools["HB-SX-002"]
    assert (moved.district.name, moved.area, moved.programme_set) == ("相山区", "urban", {"milk"})


async def test_unknown_district_is_refused_and_nothing_written(db: Database, clock: FixedClock) -> None:
    await import_roster(db, clock.now(), parse_roster(csv_bytes(HEADER, GOOD[0]), "r.csv"), new_districts=True)
    before = await counts(db)
    rows = parse_roster(csv_bytes(HEADER, "HB-SX-001,改名小学,濉溪县,rural,", GOOD[1], "HB-X,甲,睢溪县,rural,"), "r")
    with pytest.raises(RosterInvalid) as caught:
        await import_roster(db, clock.now(), rows)
    assert caught.value.messages() == ["line 4: unknown district '睢溪县' (add --new-districts to create it)"]
    assert await counts(db) == before
    async with db.session() as session:
        assert await session.scalar(select(School.name).where(School.code == "HB-SX-001")) == "双堆集镇邹圩小学"


async def test_import_is_audited(db: Database, clock: FixedClock) -> None:
    await import_roster(db, clock.now(), parse_roster(csv_bytes(HEADER, *GOOD), "r.csv"), new_districts=True, actor=7)
    async with db.session() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "roster.imported"))
    assert entry is not None and entry.actor == 7 and entry.detail is not None
    assert entry.detail["created"] == 3


# --- the CLI ------------------------------------------------------------------------------------


def on_db(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on a fresh Database in its own event loop (the CLI runs its own, too)."""

    async def _run() -> T:
        database = Database(url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(_run())


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """Point ``schoolbot`` at the test database (empty before and after) and no stray ``.env``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    for name in ("BOT_TOKEN", "BOT_USERNAME", "CATALOGUE_PATH"):
        monkeypatch.delenv(name, raising=False)
    on_db(db_url, wipe)
    yield db_url
    on_db(db_url, wipe)


async def school_name(db: Database, code: str = "HB-SX-001") -> str | None:
    async with db.session() as session:
        return await session.scalar(select(School.name).where(School.code == code))


def test_cli_imports_and_reimports(cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "schools.csv"
    path.write_bytes(csv_bytes(HEADER, *GOOD, encoding="gb18030"))
    assert main(["import-roster", str(path), "--new-districts"]) == 0
    # Chinese by default, as the office reads it.
    assert "学校名单已导入：新增 3 所，更新 0 所，未变 0 所。" in capsys.readouterr().out
    assert main(["import-roster", str(path), "--lang", "en"]) == 0
    assert "0 new, 0 updated, 3 unchanged" in capsys.readouterr().out
    assert on_db(cli_db, counts) == (2, 3, 5)


def test_cli_imports_xlsx(cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "schools.xlsx"
    path.write_bytes(xlsx_bytes([HEADER.split(","), *[line.split(",") for line in GOOD]]))
    assert main(["import-roster", str(path), "--new-districts", "--lang", "en"]) == 0
    assert "3 new" in capsys.readouterr().out
    assert on_db(cli_db, counts) == (2, 3, 5)


# Each bad file also holds good rows and a change to the existing school, so a partial
# write would show in the counts or the name.
BAD_FILES = {
    "missing-column": (
        csv_bytes("code,name,district,programmes", "HB-SX-001,改名,濉溪县,farm", "HB-NEW,甲,濉溪县,"),
        "line 1: the header lacks column(s): area;",
    ),
    "duplicate-code": (
        csv_bytes(HEADER, "HB-SX-001,改名,濉溪县,rural,", "HB-NEW,甲,濉溪县,rural,", "HB-NEW,乙,濉溪县,rural,"),
        "line 4: school code 'HB-NEW' is already used on line 3",
    ),
    "unknown-district": (
        csv_bytes(HEADER, "HB-SX-001,改名,濉溪县,rural,", "HB-NEW,甲,濉溪区,rural,"),
        "line 3: unknown district '濉溪区' (add --new-districts to create it)",
    ),
    "unknown-area": (
        csv_bytes(HEADER, "HB-SX-001,改名,濉溪县,rural,", "HB-NEW,甲,濉溪县,郊区,"),
        "line 3: unknown area '郊区'",
    ),
    "bad-encoding": (
        csv_bytes(HEADER, "HB-SX-001,改名,濉溪县,rural,", encoding="gb18030") + b"HB-NEW,\xff\xff,x,rural,\r\n",
        "line 3: the file is neither UTF-8 nor GB18030 text",
    ),
    "empty-file": (b"", "line 1: the file is empty"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_cli_bad_file_imports_nothing_and_names_the_line(
    case: str, cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = tmp_path / "seed.csv"
    seed.write_bytes(csv_bytes(HEADER, GOOD[0]))
    assert main(["import-roster", str(seed), "--new-districts"]) == 0
    before = on_db(cli_db, counts)
    capsys.readouterr()

    data, expected = BAD_FILES[case]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(data)
    assert main(["import-roster", str(bad), "--lang", "en"]) == 1
    captured = capsys.readouterr()
    assert expected in captured.err
    assert "nothing imported" in captured.err and captured.out == ""
    assert on_db(cli_db, counts) == before
    assert on_db(cli_db, school_name) == "双堆集镇邹圩小学"


def test_cli_bad_file_is_explained_in_chinese_by_default(cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes(HEADER, "HB-NEW,甲,濉溪县,郊区,"))
    assert main(["import-roster", str(bad)]) == 1
    captured = capsys.readouterr()
    assert "第 2 行：城乡“郊区”无法识别" in captured.err
    assert f"{bad}：未导入任何学校（有 1 处问题需要修改）" in captured.err and captured.out == ""


def test_cli_missing_file_is_one_clear_line(cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.csv"
    assert main(["import-roster", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"schoolbot: 无法读取 {missing}：") and len(err.strip().splitlines()) == 1
    assert main(["import-roster", str(missing), "--lang", "en"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"schoolbot: cannot read {missing}") and len(err.strip().splitlines()) == 1


def test_a_real_size_gb18030_roster_is_not_mistaken_for_broken_utf8() -> None:
    from bot.offline.demo import DEMO_ROSTER

    text = DEMO_ROSTER.read_text(encoding="utf-8")
    assert parse_roster(text.encode("gb18030"), "r.csv") == parse_roster(text.encode("utf-8"), "r.csv")
