"""Readers: delimiters, encodings, malformed lines, exact chunking, XLSX cells as text."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from retenta.imports.readers import CsvFile, XlsxFile
from tests.imports.helpers import write_xlsx


def test_semicolon_cp1251_with_bom_free_header(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes("Имя;Email\nАня;ann@example.com\nБорис;bob@example.com\n".encode("cp1251"))
    src = CsvFile(path)
    assert (src.encoding, src.delimiter, src.columns) == ("cp1251", ";", ["Имя", "Email"])
    (chunk,) = list(src.chunks(skip=0, size=10))
    assert chunk.table.column("Имя").to_pylist() == ["Аня", "Борис"]


def test_utf8_bom_and_duplicate_headers(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffemail,email,\na@x.io,b@x.io,c\n".encode())
    assert CsvFile(path).columns == ["email", "email_2", "column_3"]


def test_exact_chunks_and_skip(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text("n\n" + "".join(f"{i}\n" for i in range(25)), encoding="utf-8")
    src = CsvFile(path)
    assert src.count_rows() == 25
    chunks = list(src.chunks(skip=7, size=10))
    assert [c.first_row for c in chunks] == [9, 19]
    assert [c.table.num_rows for c in chunks] == [10, 8]
    assert chunks[0].table.column("n").to_pylist()[0] == "7"


def test_malformed_lines_are_reported_not_imported(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text('a,b\n1,2\n3,4,5\n"6\nsix",7\n', encoding="utf-8")
    (chunk,) = list(CsvFile(path).chunks(skip=0, size=100))
    assert chunk.table.column("a").to_pylist() == ["1", "6\nsix"]
    assert [(m.line, m.reason) for m in chunk.malformed] == [
        (3, "malformed CSV line: expected 2 cells, found 3")
    ]


def test_xlsx_cells_become_text(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "c.xlsx",
        ["phone", "born", "score"],
        [[380501234567, datetime(1990, 4, 23), 12.5], [None, None, None], ["x", None, 3]],
    )
    src = XlsxFile(path)
    assert src.count_rows() == 3  # the blank row stays, so row numbers match the sheet
    (chunk,) = list(src.chunks(skip=0, size=10))
    assert chunk.first_row == 2
    assert chunk.table.to_pylist() == [
        {"phone": "380501234567", "born": "1990-04-23", "score": "12.5"},
        {"phone": None, "born": None, "score": None},
        {"phone": "x", "born": None, "score": "3"},
    ]
    assert [c.first_row for c in src.chunks(skip=1, size=1)] == [3, 4]


def test_xlsx_table_not_at_a1_keeps_sheet_row_numbers(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws["C3"], ws["D3"], ws["C4"], ws["D4"], ws["C6"] = "sku", "name", "A", "x", "B"
    wb.save(tmp_path / "off.xlsx")
    src = XlsxFile(tmp_path / "off.xlsx")
    assert (src.columns, src.count_rows()) == (["sku", "name"], 3)
    chunks = list(src.chunks(skip=0, size=2))
    assert [c.first_row for c in chunks] == [4, 6]
    assert chunks[1].table.to_pylist() == [{"sku": "B", "name": None}]
