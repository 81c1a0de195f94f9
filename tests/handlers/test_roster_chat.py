"""A roster sent to the bot as a file: preview, confirm, progress, and every bad file refused with nothing changed."""

from __future__ import annotations

import io
import time
import zipfile

import openpyxl
from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.offline.simulator import Simulator
from storage.db import Database
from storage.models import AuditEntry, District, School
from tests.factories import add_school, register_principal, register_staff

ADMIN = 900
HEADER = "code,name,district,area,programmes"
GOOD = [
    "HB-SX-001,双堆集镇邹圩小学,濉溪县,rural,farm;insurance",
    "HB-SX-002,五沟镇袁店中心校,濉溪县,农村,farm",
    "HB-XS-003,淮北市第一实验小学,相山区,城区,milk;insurance",
]


def csv_bytes(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("学校")
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


async def schools(db: Database) -> dict[str, str]:
    async with db.session() as session:
        return {s.code: s.name for s in (await session.scalars(select(School))).all()}


async def imports(db: Database) -> list[AuditEntry]:
    async with db.session() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == "roster.imported"))).all())


async def test_admin_previews_then_imports_and_the_import_is_audited(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock, "HB-SX-001", "邹圩小学", "濉溪县", programmes=("farm", "insurance"))
    admin = sim.user(ADMIN, "陈主任")
    replies = await admin.send_document("学校名单.csv", data=csv_bytes(HEADER, *GOOD))
    preview = replies[-1]
    assert preview.edited and "学校名单.csv" in preview.text
    assert "新增 2 所，变更 1 所，不变 0 所" in preview.text
    assert "~ HB-SX-001 邹圩小学：名称 邹圩小学 → 双堆集镇邹圩小学" in preview.text
    # The new district is named once, next to the ones known, not once per row.
    assert preview.text.count("相山区") == 2 and "将新建 1 个区县：相山区。系统中已有：濉溪县" in preview.text
    assert await schools(db) == {"HB-SX-001": "邹圩小学"}, "a preview writes nothing"

    done = await admin.press("确认导入并新建 1 个区县")
    assert "学校名单已导入：新增 2 所，更新 1 所，未变 0 所。新建区县：相山区。" in done[-1].text
    assert done[-1].buttons == []
    assert (await schools(db))["HB-SX-001"] == "双堆集镇邹圩小学" and len(await schools(db)) == 3
    (entry,) = await imports(db)
    assert entry.actor == ADMIN and entry.detail is not None
    assert (entry.detail["created"], entry.detail["updated"], entry.detail["unchanged"]) == (2, 1, 0)
    assert entry.detail["new_districts"] == ["相山区"] and entry.detail["source"] == "chat"

    again = await admin.send_document("学校名单.csv", data=csv_bytes(HEADER, *GOOD))
    assert "完全一致（3 所）" in again[-1].text and again[-1].buttons == []


async def test_first_import_into_an_empty_database_says_which_districts_it_creates(sim: Simulator, db: Database) -> None:
    admin = sim.user(ADMIN, "陈主任")
    replies = await admin.send_document("schools.xlsx", data=xlsx_bytes([HEADER.split(","), *(g.split(",") for g in GOOD)]))
    assert "系统中还没有区县，将新建 2 个：濉溪县、相山区。" in replies[-1].text
    await admin.press("确认导入")
    async with db.session() as session:
        assert set((await session.scalars(select(District.name))).all()) == {"濉溪县", "相山区"}
    assert len(await schools(db)) == 3


async def test_repeated_problems_are_grouped_with_line_ranges(sim: Simulator, db: Database) -> None:
    rows = [f"HB-{n:05d},学校{n},濉溪县,郊区," for n in range(5_000)] + ["HB-X,,濉溪县,rural,", "HB-Y,乙,濉溪县,郊区,"]
    replies = await sim.user(ADMIN, "陈主任").send_document("名单.csv", data=csv_bytes(HEADER, *rows))
    text = "\n".join(r.text for r in replies)
    assert "有 5,002 处问题，未导入任何学校" in text
    assert "城乡“郊区”无法识别，请填写 城区 或 农村（urban 或 rural）：第 2–5,001、5,003 行" in text
    assert "第 5,002 行：“name”为空。" in text
    assert text.count("郊区") == 1
    assert await schools(db) == {}


async def test_non_admins_are_refused_and_cannot_press_confirm(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    staff = await register_staff(sim, db, clock)
    principal = await register_principal(sim, db, clock)
    for chat in (staff, principal):
        replies = await chat.send_document("roster.csv", data=csv_bytes(HEADER, *GOOD))
        assert replies[-1].text == "只有管理员可以导入学校名单。"
    admin = sim.user(ADMIN, "陈主任")
    await admin.send_document("roster.csv", data=csv_bytes(HEADER, *GOOD))
    confirm = next(b for b in sim.fake.buttons(ADMIN) if "确认导入" in b["text"])
    forged = await staff.press_data(confirm["callback_data"], confirm["message"])
    assert not any("已导入" in r.text for r in forged)
    assert "没有使用这个命令的权限" in sim.fake.calls_to("answerCallbackQuery")[-1].params["text"]
    assert list(await schools(db)) == ["HB001"] and await imports(db) == []


def _macro_workbook() -> bytes:
    plain = xlsx_bytes([HEADER.split(","), GOOD[0].split(",")])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(plain)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item))
        target.writestr("xl/vbaProject.bin", b'\xd0\xcf\x11\xe0 Attribute VB_Name = "Module1"')
    return out.getvalue()


def _encrypted_workbook() -> bytes:
    # What Excel writes for "Encrypt with Password": an OLE compound file holding the
    # EncryptionInfo and EncryptedPackage streams (their names in UTF-16 in its directory).
    sector = bytearray(512)
    for index, name in enumerate(("EncryptionInfo", "EncryptedPackage")):
        raw = name.encode("utf-16-le")
        sector[index * 128 : index * 128 + len(raw)] = raw
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + bytes(sector) + bytes(4096)


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)

BAD_FILES = {
    "roster.xlsm": (_macro_workbook(), "这是含宏的工作簿（.xlsm），为安全起见不予读取"),
    "加密名单.xlsx": (_encrypted_workbook(), "工作簿设有打开密码（已加密），无法读取"),
    "roster.xlsx": (PNG, "这是一个 PNG 文件（图片或文档），不是表格"),
    "empty.csv": (b"", "文件是空的"),
}


async def test_bad_files_get_a_clear_reason_and_change_nothing(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    admin = sim.user(ADMIN, "陈主任")
    for name, (data, reason) in BAD_FILES.items():
        replies = await admin.send_document(name, data=data)
        assert f"{name}：有 1 处问题，未导入任何学校" in replies[-1].text, name
        assert reason in replies[-1].text, name
        assert replies[-1].buttons == []
    assert list(await schools(db)) == ["HB001"] and await imports(db) == []


async def test_a_photo_is_answered_with_how_to_send_the_roster(sim: Simulator, db: Database) -> None:
    replies = await sim.user(ADMIN, "陈主任").send_photo()
    assert replies[-1].text == "这是一张图片。要导入学校名单，请把 .xlsx 或 .csv 文件作为“文件”发送。"
    assert sim.fake.calls_to("getFile") == []


async def test_a_gbk_csv_is_read(sim: Simulator, db: Database) -> None:
    admin = sim.user(ADMIN, "陈主任")
    replies = await admin.send_document("名单.csv", data=csv_bytes("学校代码,学校名称,区县,城乡,项目", *GOOD, encoding="gbk"))
    assert "+ HB-SX-001 双堆集镇邹圩小学（濉溪县）" in replies[-1].text
    await admin.press("确认导入")
    assert (await schools(db))["HB-XS-003"] == "淮北市第一实验小学"


async def test_a_twenty_thousand_row_file_is_refused_quickly_at_the_limit(sim: Simulator, db: Database) -> None:
    rows = [[f"HB-{n:05d}", f"第{n}小学", "濉溪县", "rural", "milk"] for n in range(20_000)]
    data = xlsx_bytes([HEADER.split(","), *rows])
    started = time.monotonic()
    replies = await sim.user(ADMIN, "陈主任").send_document("全省.xlsx", data=data)
    elapsed = time.monotonic() - started
    assert "第 10,002 行：学校太多：一次最多导入 10,000 所" in replies[-1].text
    assert elapsed < 30, f"reading stops at the limit ({elapsed:.1f} s)"
    assert await schools(db) == {}


async def test_a_file_over_the_size_limit_is_not_downloaded(sim: Simulator, db: Database) -> None:
    replies = await sim.user(ADMIN, "陈主任").send_document("big.csv", size=50 * 1024 * 1024)
    assert "文件太大（超过 4 MB）" in replies[-1].text
    assert sim.fake.calls_to("getFile") == []


async def test_a_large_import_edits_its_progress_message(sim: Simulator, db: Database) -> None:
    rows = [f"HB-{n:05d},第{n}小学,濉溪县,rural,milk" for n in range(2_500)]
    admin = sim.user(ADMIN, "陈主任")
    await admin.send_document("名单.csv", data=csv_bytes(HEADER, *rows))
    done = await admin.press("确认导入")
    edits = [r.text for r in done if r.edited]
    assert edits[:3] == ["正在导入：0/2,500 所……", "正在导入：1,000/2,500 所……", "正在导入：2,000/2,500 所……"]
    assert "新增 2500 所" in edits[-1]
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(School)) == 2_500


async def test_cancel_and_a_preview_gone_stale_import_nothing(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock, "HB-SX-001", "邹圩小学", "濉溪县")
    admin = sim.user(ADMIN, "陈主任")
    await admin.send_document("a.csv", data=csv_bytes(HEADER, *GOOD))
    cancelled = await admin.press("取消")
    assert cancelled[-1].text == "已取消，没有导入任何学校。"

    await admin.send_document("b.csv", data=csv_bytes(HEADER, *GOOD))
    stale = next(b for b in sim.fake.buttons(ADMIN) if "确认导入" in b["text"])
    await add_school(db, clock, "HB-SX-002", "五沟镇袁店中心校", "濉溪县", programmes=("farm",))  # someone else imported
    replies = await admin.press_data(stale["callback_data"], stale["message"])
    assert "预览之后系统中的学校有了变化，未导入" in replies[-1].text and "新增 1 所" in replies[-1].text
    assert await imports(db) == [] and (await schools(db))["HB-SX-001"] == "邹圩小学"
