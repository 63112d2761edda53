"""Read CSV and XLSX files as text chunks of exactly ``size`` rows (the last may be shorter).

CSV streams through pyarrow's reader (constant memory, any size); XLSX is read whole by
calamine (spreadsheets stop at 1,048,576 rows anyway). Every cell comes out as text (or
null), so coercion decides types the same way for both formats. Rows are numbered as a
spreadsheet shows them: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv

FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx"}
_SNIFF_BYTES = 64 * 1024


class ReadError(ValueError):
    """The file cannot be read as a table (wrong format, no header, bad encoding)."""


@dataclass(frozen=True)
class Malformed:
    """A CSV line with the wrong number of cells; it is reported, not imported."""

    line: int
    reason: str
    text: str


@dataclass
class TextChunk:
    first_row: int  # file row number of the first row (header = 1)
    table: pa.Table  # text columns named as in the header
    malformed: list[Malformed] = field(default_factory=list)


class SourceFile(Protocol):
    columns: list[str]

    def count_rows(self) -> int: ...
    def chunks(self, *, skip: int, size: int) -> Iterator[TextChunk]: ...


def file_format(name: str) -> str:
    """``csv`` or ``xlsx`` from a file name; ReadError for anything else.

    >>> file_format("Contacts 2024.XLSX"), file_format("orders.csv")
    ('xlsx', 'csv')
    """
    fmt = FORMATS.get(Path(name).suffix.lower())
    if fmt is None:
        raise ReadError(f"unsupported file type {Path(name).suffix or name!r}: use .csv or .xlsx")
    return fmt


def open_source(path: Path, fmt: str) -> SourceFile:
    return CsvFile(path) if fmt == "csv" else XlsxFile(path)


def unique_headers(names: list[str]) -> list[str]:
    """Blank headers become ``column_N``; repeats get a suffix.

    >>> unique_headers(["email", "", "email"])
    ['email', 'column_2', 'email_2']
    """
    out: list[str] = []
    for i, raw in enumerate(names, start=1):
        name = raw.strip().lstrip("\ufeff") or f"column_{i}"
        base, n = name, 2
        while name in out:
            name, n = f"{base}_{n}", n + 1
        out.append(name)
    return out


def sniff_encoding(head: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1251 (Russian/Ukrainian Excel exports).

    >>> sniff_encoding("имя".encode("cp1251")), sniff_encoding("имя".encode())
    ('cp1251', 'utf-8')
    """
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":  # not just a character cut by the sniff
            return "cp1251"
    return "utf-8"


def sniff_delimiter(header_line: str) -> str:
    """The most frequent of ``, ; TAB |`` in the header line.

    >>> sniff_delimiter("email;phone;name")
    ';'
    """
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


class CsvFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
        self.encoding = sniff_encoding(head)
        text = head.decode(self.encoding, errors="ignore").lstrip("\ufeff")
        first_line = text.splitlines()[0] if text.strip() else ""
        if not first_line.strip():
            raise ReadError("the file is empty: the first line must name the columns")
        self.delimiter = sniff_delimiter(first_line)
        header = next(csv.reader(io.StringIO(text), delimiter=self.delimiter))
        self.columns = unique_headers(header)

    def _reader(self, malformed: list[Malformed]) -> pacsv.CSVStreamingReader:
        expected = len(self.columns)

        def on_invalid(row: pacsv.InvalidRow) -> str:
            reason = f"malformed CSV line: expected {expected} cells, found {row.actual_columns}"
            malformed.append(Malformed(row.number or 0, reason, row.text[:1000]))
            return "skip"

        read = pacsv.ReadOptions(
            column_names=self.columns,
            skip_rows=1,
            encoding=self.encoding,
            block_size=4 << 20,
            use_threads=False,  # so malformed lines come with their line number
        )
        parse = pacsv.ParseOptions(
            delimiter=self.delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
        )
        convert = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in self.columns},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        try:
            return pacsv.open_csv(
                self.path, read_options=read, parse_options=parse, convert_options=convert
            )
        except pa.ArrowInvalid as exc:
            raise ReadError(f"cannot read the CSV file: {exc}") from exc

    def count_rows(self) -> int:
        return sum(batch.num_rows for batch in self._reader([]))

    def chunks(self, *, skip: int, size: int) -> Iterator[TextChunk]:
        malformed: list[Malformed] = []
        batches = _rechunk(iter(self._reader(malformed)), skip=skip, size=size)
        row = 2 + skip
        for table in batches:
            found, malformed[:] = list(malformed), []
            yield TextChunk(row, table, found)
            row += table.num_rows


def _rechunk(batches: Iterator[pa.RecordBatch], *, skip: int, size: int) -> Iterator[pa.Table]:
    """Exact ``size``-row tables from arbitrary batches, after dropping ``skip`` rows."""
    pending: list[pa.RecordBatch] = []
    have = 0
    for batch in batches:
        if skip:
            dropped = min(skip, batch.num_rows)
            batch, skip = batch.slice(dropped), skip - dropped
        pending.append(batch)
        have += batch.num_rows
        while have >= size:
            table = pa.Table.from_batches(pending).combine_chunks()
            yield table.slice(0, size)
            rest = table.slice(size)
            pending, have = rest.to_batches(), rest.num_rows
    if have:
        yield pa.Table.from_batches(pending).combine_chunks()


def cell_text(value: Any) -> str | None:
    """A spreadsheet cell as text: whole floats without ``.0``, dates in ISO 8601.

    >>> cell_text(380501234567.0), cell_text(12.5), cell_text(datetime(2024, 5, 1, 9, 30))
    ('380501234567', '12.5', '2024-05-01T09:30:00')
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


class XlsxFile:
    """The first worksheet; its first row names the columns. Rows are streamed from
    calamine's compact in-memory range, so Python holds one chunk at a time; blank rows are
    passed on (and skipped by coercion) so row numbers stay the spreadsheet's."""

    def __init__(self, path: Path) -> None:
        import python_calamine

        try:
            book = python_calamine.CalamineWorkbook.from_path(str(path))
            self._sheet = book.get_sheet_by_index(0)
            start = self._sheet.start  # first used (row, column), 0-based; None when empty
        except Exception as exc:  # calamine raises several unrelated types for bad files
            raise ReadError(f"cannot read the XLSX file: {exc}") from exc
        if start is None:
            raise ReadError("the worksheet is empty: the first row must name the columns")
        # iter_rows() yields every row from the sheet's first, cut to the used columns
        end = self._sheet.end
        self._top, self._end = int(start[0]), int(end[0] if end else start[0])
        header = next(itertools.islice(self._sheet.iter_rows(), self._top, None))
        self.columns = unique_headers([cell_text(v) or "" for v in header])

    def count_rows(self) -> int:
        return max(self._end - self._top, 0)

    def chunks(self, *, skip: int, size: int) -> Iterator[TextChunk]:
        rows = itertools.islice(self._sheet.iter_rows(), self._top + 1 + skip, None)
        first = self._top + 2 + skip  # spreadsheet row number: the header is row top + 1
        while part := list(itertools.islice(rows, size)):
            yield TextChunk(first, self._table(part))
            first += len(part)

    def _table(self, part: list[list[Any]]) -> pa.Table:
        cols = {
            name: pa.array([cell_text(r[i]) if i < len(r) else None for r in part], pa.string())
            for i, name in enumerate(self.columns)
        }
        return pa.table(cols)
