"""Reading a roster file's bytes into (line number, cells): CSV or XLSX, and refusing what is neither.

Pure (no database). The format is recognised from the content, not the name:
an image or PDF named ``roster.xlsx``, a macro-enabled workbook (``.xlsm``, or
an ``.xlsx`` carrying a VBA project), a password-protected workbook (Excel
saves those as an encrypted OLE container) and an old ``.xls`` are each refused
with their own reason. ``max_rows`` bounds the work for a chat upload: reading
stops at the first school past it, so a huge file costs no more than the limit.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import datetime
from pathlib import Path

from bot.office.roster_rows import RosterInvalid, header_key, refuse

__all__ = ["Table", "read_table"]

Table = list[tuple[int, list[str]]]

_DELIMITERS = (",", "\t", ";")
_XLSX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Excel's "Encrypt with password" wraps the whole workbook in an OLE container with these streams.
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
# Formats people send by mistake, by their first bytes: named, so the refusal says what the file is.
_NOT_TABLES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"%PDF-", "PDF"),
    (b"BM", "BMP"),
    (b"Rar!", "RAR"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
)
# A workbook unpacking to more than this is not a school list (or is a zip bomb).
MAX_UNPACKED_BYTES = 64 * 1024 * 1024


def read_table(data: bytes, filename: str | None, max_rows: int | None = None) -> tuple[Table, bool]:
    """The file's rows and whether it was CSV (whose rows are held to the header's width)."""
    suffix = Path(filename or "").suffix.lower()
    what = _not_a_table(data)
    if what is not None:
        raise refuse(1, "roster.file.not_a_table", what=what)
    if data.startswith(_XLSX_MAGIC):
        return _read_xlsx(data, max_rows), False
    if data.startswith(_OLE_MAGIC):
        if _ENCRYPTED_STREAM in data:
            raise refuse(1, "roster.file.encrypted")
        raise refuse(1, "roster.file.old_xls")
    if suffix in (".xlsx", ".xlsm") and data.strip():
        raise refuse(1, "roster.file.bad_xlsx")
    return _read_csv(data, max_rows), True


def _not_a_table(data: bytes) -> str | None:
    for magic, what in _NOT_TABLES:
        if data.startswith(magic):
            return what
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1") or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return "HEIC" if data[4:8] == b"ftyp" else "WEBP"
    return None


def _too_many(line: int, max_rows: int) -> RosterInvalid:
    return refuse(line, "roster.file.too_many_rows", limit=f"{max_rows:,}")


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _decode(data: bytes) -> str:
    """UTF-8 (BOM or not), else GB18030 (which reads GBK); anything else is refused naming the line."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise refuse(1, "roster.file.utf16")
    nul = data.find(b"\x00")
    if nul >= 0:
        # UTF-16 without a BOM puts a NUL beside every ASCII letter; anything else with NULs is binary.
        head = data[:200]
        if head.count(b"\x00") * 3 >= len(head):
            raise refuse(1, "roster.file.utf16")
        raise refuse(_line_of(data, nul), "roster.file.binary")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    # GB18030 decodes almost any byte soup, so a UTF-8 file with one damaged byte would turn
    # into plausible-looking nonsense (邹圩 → 閭瑰湬). GB text is hardly ever valid UTF-8 for
    # long: CJK that already read as UTF-8 before the error, or far more valid UTF-8 CJK
    # than damage overall, means "broken UTF-8".
    prefix = data[: utf8_error.start].decode("utf-8-sig")
    lenient = data.decode("utf-8", errors="replace")
    damage = lenient.count("\ufffd")
    valid_cjk = sum(1 for char in lenient if ord(char) >= 0x800) - damage
    if sum(1 for char in prefix if ord(char) >= 0x800) >= 2 or valid_cjk >= 4 * damage:
        raise refuse(_line_of(data, utf8_error.start), "roster.file.bad_encoding", byte=f"0x{data[utf8_error.start]:02X}")
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise refuse(_line_of(data, exc.start), "roster.file.bad_encoding", byte=f"0x{data[exc.start]:02X}") from None


def _read_csv(data: bytes, max_rows: int | None) -> Table:
    text = _decode(data)
    if not text.strip():
        raise refuse(1, "roster.file.empty")
    first = next(line for line in text.splitlines() if line.strip())
    # Excel in some locales saves ";"- or tab-separated "CSV": take the delimiter that finds the most columns.
    delimiter = max(
        _DELIMITERS,
        key=lambda d: sum(1 for cell in next(csv.reader([first], delimiter=d)) if header_key(cell)),
    )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    table: Table = []
    filled = 0
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                filled += 1
                # The header plus max_rows schools; the next one is past the limit.
                if max_rows is not None and filled > max_rows + 1:
                    raise _too_many(start, max_rows)
            table.append((start, cells))
            start = reader.line_num + 1
    except csv.Error:
        raise refuse(start, "roster.row.bad_csv") from None
    return table


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        # A code typed as a number comes back as 1001.0.
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value)


def _check_package(data: bytes) -> None:
    """Refuse a workbook carrying macros, or one that unpacks to far more than a school list."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            members = package.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise refuse(1, "roster.file.bad_xlsx") from None
    if any(member.filename.lower().endswith("vbaproject.bin") for member in members):
        # Macros never run here, but a roster has no use for them: a file that carries them is not passed on.
        raise refuse(1, "roster.file.macros")
    if sum(member.file_size for member in members) > MAX_UNPACKED_BYTES:
        raise refuse(1, "roster.file.bad_xlsx")


def _read_xlsx(data: bytes, max_rows: int | None) -> Table:
    import openpyxl  # type: ignore[import-untyped]

    _check_package(data)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - a damaged workbook fails in zipfile, lxml or openpyxl alike
        raise refuse(1, "roster.file.bad_xlsx") from None
    table: Table = []
    filled = 0
    try:
        # The first sheet: the one a clerk sees on top when the file opens. Read-only mode streams
        # its rows, so stopping at the limit also bounds the memory a huge sheet takes.
        sheet = workbook.worksheets[0]
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_cell_text(value) for value in row]
            if any(cell.strip() for cell in cells):
                filled += 1
            # Past the limit, or (formatted empty rows by the hundred thousand) far below it.
            if max_rows is not None and (filled > max_rows + 1 or number > 4 * max_rows + 100):
                raise _too_many(number, max_rows)
            table.append((number, cells))
    except RosterInvalid:
        raise
    except Exception:  # noqa: BLE001 - see above
        raise refuse(1, "roster.file.bad_xlsx") from None
    finally:
        workbook.close()
    return table
