"""The report's columns, and its exports: CSV streamed row by row, Excel written with constant
memory; both read the filtered records through a server-side cursor."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal

import xlsxwriter

from billing.money import minor_digits
from usage.models import CallType, FundedBy, UsageRecord

Column = tuple[str, str, Callable[[UsageRecord], object]]


def _inbound(r: UsageRecord) -> bool:
    return r.type == "toll_free_dial_in"


CALL_COLUMNS: list[Column] = [
    ("time", "Time stamp (UTC)", lambda r: r.started_at),
    ("name", "Display name", lambda r: r.user.display_name),
    ("upn", "Username", lambda r: r.user.upn),
    ("phone", "Phone number", lambda r: r.user.phone_number),
    ("type", "Call type", lambda r: r.get_type_display()),
    ("to", "Called to", lambda r: r.to_number),
    ("to_country", "To country or region", lambda r: r.to_country),
    ("from", "Called from", lambda r: r.from_number),
    ("from_country", "From country or region", lambda r: r.from_country),
    ("charge", "Charge", lambda r: r.charge),
    ("currency", "Currency", lambda r: str(r.currency)),
    ("duration", "Duration (seconds)", lambda r: r.duration_seconds),
    ("domestic", "Domestic/international", lambda r: "Domestic" if r.domestic else "International"),
    ("call_id", "Call ID", lambda r: r.record_id),
    ("number_type", "Number type", lambda r: "Toll-free" if _inbound(r) else "User"),
    ("location", "Usage location", lambda r: r.user.usage_location.code),
    ("conference_id", "Conference ID", lambda r: r.conference_id),
    ("capability", "Capability", lambda r: r.capability),
    ("plan_minutes", "Plan minutes used", lambda r: r.plan_minutes),
    ("funded_by", "Funded by", lambda r: r.get_funded_by_display()),
    ("lots", "Credit lots drawn", lambda r: getattr(r, "lots_drawn", None) or ""),
    ("rate", "Rate applied", lambda r: r.rate_per_unit),
]
SMS_COLUMNS: list[Column] = [
    ("time", "Sent time (UTC)", lambda r: r.started_at),
    ("name", "Display name", lambda r: r.user.display_name),
    ("upn", "Username", lambda r: r.user.upn),
    ("from", "From", lambda r: r.from_number),
    ("to", "To", lambda r: mask(r.to_number) if getattr(r, "mask_to", False) else r.to_number),
    ("domestic", "Domestic/international", lambda r: "Domestic" if r.domestic else "International"),
    ("to_country", "Destination country or region", lambda r: r.to_country),
    ("units", "Units", lambda r: r.units),
    ("charge", "Charge", lambda r: r.charge),
    ("currency", "Currency", lambda r: str(r.currency)),
    ("capability", "Capability", lambda r: r.capability),
]


# The vendor's PSTN usage report has the call columns above up to "Capability" (and the SMS
# columns all); these are the portal's own, chosen in the column picker when wanted, so that the
# default table fits a 1440-pixel window.
OPT_IN = frozenset({"plan_minutes", "funded_by", "lots", "rate"})


def default_columns(columns: list[Column]) -> list[Column]:
    return [c for c in columns if c[0] not in OPT_IN]


def mask(number: str) -> str:
    """+821012345678 → +8210••••678: enough to recognise, not to dial."""
    return number[:5] + "••••" + number[-3:] if len(number) > 8 else number


def columns_for(kind: str) -> list[Column]:
    return CALL_COLUMNS if kind == UsageRecord.Kind.CALL else SMS_COLUMNS


def safe_text(value: str) -> str:
    """Text a spreadsheet would take for a formula (= + - @, tab, CR) is kept as text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# What the exports read for each column: a `values_list` field and the kind of its value. The
# exports read plain tuples of the chosen columns through a server-side cursor, never models:
# building a record and its user for every row was most of an export's time (issue 16).
READS: dict[str, tuple[str, str]] = {
    "time": ("started_at", "time"),
    "name": ("user__display_name", "text"),
    "upn": ("user__upn", "text"),
    "phone": ("user__phone_number", "text"),
    "type": ("type", "call_type"),
    "to": ("to_number", "to"),
    "to_country": ("to_country", "text"),
    "from": ("from_number", "text"),
    "from_country": ("from_country", "text"),
    "charge": ("charge", "decimal"),
    "currency": ("currency", "text"),
    "duration": ("duration_seconds", "number"),
    "domestic": ("domestic", "domestic"),
    "call_id": ("record_id", "text"),
    "number_type": ("type", "number_type"),
    "location": ("user__usage_location", "text"),
    "conference_id": ("conference_id", "text"),
    "capability": ("capability", "text"),
    "plan_minutes": ("plan_minutes", "number"),
    "funded_by": ("funded_by", "funded_by"),
    "lots": ("lots_drawn", "lots"),
    "rate": ("rate_per_unit", "decimal"),
    "units": ("units", "number"),
}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
CALL_TYPES = dict(CallType.choices)
FUNDINGS = dict(FundedBy.choices)


def _labelled(labels: dict[str, str]) -> Callable[[str], str]:
    return lambda value: labels.get(value) or safe_text(value)  # our labels are never formulas


def decimal_text(value: Decimal) -> str:
    """0.0700 as it is stored; a whole amount without its zeros (1.0000 → 1)."""
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


def _reads(columns: list[Column]) -> tuple[list[str], list[int], list[str]]:
    """The fields to read (each once), and for each column its field's place and its kind."""
    fields: list[str] = []
    for key, _title, _get in columns:
        if READS[key][0] not in fields:
            fields.append(READS[key][0])
    places = [fields.index(READS[key][0]) for key, _title, _get in columns]
    return fields, places, [READS[key][1] for key, _title, _get in columns]


def _text_cells(kinds: list[str], zone, masked: bool) -> list[Callable | None]:
    """For each column, the function making its CSV cell (None: the value as csv writes it)."""

    def when(value: datetime) -> str:
        return value.astimezone(zone).strftime(TIME_FORMAT)

    cells = {
        "time": when,
        "text": safe_text,
        "to": (lambda value: safe_text(mask(value))) if masked else safe_text,
        "call_type": _labelled(CALL_TYPES),
        "funded_by": _labelled(FUNDINGS),
        "domestic": lambda value: "Domestic" if value else "International",
        "number_type": lambda value: "Toll-free" if value == CallType.TOLL_FREE_DIAL_IN else "User",
        "lots": lambda value: safe_text(value) if value else "",
        "decimal": decimal_text,
        "number": None,
    }
    return [cells[kind] for kind in kinds]


class _Echo:
    def write(self, value: str) -> str:
        return value


def heading(title: str, zone) -> str:
    return title.replace("(UTC)", f"({zone})")


def csv_rows(records, columns: list[Column], zone, progress=None, masked=False) -> Iterator[str]:
    """RFC 4180 lines (CRLF), UTF-8 with a BOM so that Excel reads it as UTF-8; `masked`: the
    SMS recipients masked."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield "\ufeff" + writer.writerow([heading(title, zone) for _key, title, _get in columns])
    fields, places, kinds = _reads(columns)
    cells = list(zip(places, _text_cells(kinds, zone, masked), strict=True))
    writerow = writer.writerow
    values = records.values_list(*fields).iterator(chunk_size=2000)
    for done, row in enumerate(values, start=1):
        yield writerow([row[n] if cell is None else cell(row[n]) for n, cell in cells])
        if progress and done % 1000 == 0:
            progress(done)


# Widths in characters, so that the headings and the usual values fit without a click.
WIDTHS = {
    "time": 20,
    "name": 24,
    "upn": 30,
    "phone": 16,
    "type": 22,
    "to": 16,
    "from": 16,
    "charge": 14,
    "currency": 10,
    "duration": 12,
    "domestic": 14,
    "call_id": 38,
    "number_type": 12,
    "conference_id": 18,
    "capability": 24,
    "funded_by": 14,
    "lots": 36,
    "rate": 12,
}
# The columns summed in the totals row (SUBTOTAL, so that it follows the autofilter).
SUMMED = frozenset({"charge", "duration", "plan_minutes", "units"})


def _column_name(col: int) -> str:
    name = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        name = chr(65 + rest) + name
    return name


EXCEL_EPOCH = datetime(1899, 12, 30)  # day 0 of Excel's 1900 system, for any date after 1900-03-01


def _sheet_cells(sheet, kinds: list[str], zone, masked: bool, formats: dict) -> list[tuple]:
    """For each column, how its Excel cell is written: (write method, conversion or None,
    format or None)."""

    def when(value: datetime) -> float:
        # Excel's serial number of the local time: write_datetime's, without its checks a cell.
        delta = value.astimezone(zone).replace(tzinfo=None) - EXCEL_EPOCH
        return delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400

    number, text = sheet.write_number, sheet.write_string
    cells = {
        "time": (number, when, formats["when"]),
        "text": (text, None, None),
        "to": (text, mask, None) if masked else (text, None, None),
        "call_type": (text, lambda value: CALL_TYPES.get(value) or value, None),
        "funded_by": (text, lambda value: FUNDINGS.get(value) or value, None),
        "domestic": (text, lambda value: "Domestic" if value else "International", None),
        "number_type": (
            text,
            lambda value: "Toll-free" if value == CallType.TOLL_FREE_DIAL_IN else "User",
            None,
        ),
        "lots": (text, lambda value: value or "", None),
        "number": (number, None, None),
    }
    return [
        (number, float, formats[kind]) if kind in ("money", "rate") else cells[kind]
        for kind in kinds
    ]


def xlsx_file(
    records,
    kind: str,
    columns: list[Column],
    zone,
    currency: str,
    out=None,
    progress=None,
    masked=False,
):
    """An .xlsx with typed cells (dates as dates, money as numbers in the currency's format),
    a header row with an autofilter and frozen panes, widths that fit, and a totals row; written
    row by row with constant memory. `masked`: the SMS recipients masked."""
    out = out or tempfile.TemporaryFile()  # noqa: SIM115  (FileResponse closes it)
    book = xlsxwriter.Workbook(
        out, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    sheet = book.add_worksheet("Calls" if kind == UsageRecord.Kind.CALL else "SMS")
    bold = book.add_format({"bold": True})
    digits = minor_digits(currency)
    money_format = ("#,##0." + "0" * digits if digits else "#,##0") + f' "{currency}"'
    formats = {
        "when": book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        "money": book.add_format({"num_format": money_format}),
        "rate": book.add_format({"num_format": "0.0000"}),
    }
    total_money = book.add_format({"num_format": money_format, "bold": True, "top": 1})
    total = book.add_format({"bold": True, "top": 1})
    for col, (key, title, _get) in enumerate(columns):
        sheet.write_string(0, col, heading(title, zone), bold)
        sheet.set_column(col, col, max(WIDTHS.get(key, 16), len(heading(title, zone)) + 2))
    sheet.freeze_panes(1, 0)
    fields, places, kinds = _reads(columns)
    kinds = [
        ("rate" if key == "rate" else "money") if kind == "decimal" else kind
        for (key, _t, _g), kind in zip(columns, kinds, strict=True)
    ]
    cells = [
        (col, place, *cell)
        for col, (place, cell) in enumerate(
            zip(places, _sheet_cells(sheet, kinds, zone, masked, formats), strict=True)
        )
    ]
    summed = [(col, places[col]) for col, (key, _t, _g) in enumerate(columns) if key in SUMMED]
    sums = {col: Decimal(0) for col, _place in summed}
    row = 0
    values = records.values_list(*fields).iterator(chunk_size=2000)
    for row, record in enumerate(values, start=1):
        if progress and row % 1000 == 0:
            progress(row)
        for col, place, write, convert, cell_format in cells:
            value = record[place]
            write(row, col, value if convert is None else convert(value), cell_format)
        for col, place in summed:
            sums[col] += record[place]
    last = row  # the last record's row (0 when there are none)
    sheet.autofilter(0, 0, last, len(columns) - 1)
    totals_row = last + 1
    for col, (key, _title, _get) in enumerate(columns):
        if col in sums:
            fmt = total_money if key == "charge" else total
            if last:
                letter = _column_name(col)
                formula = f"=SUBTOTAL(109,{letter}2:{letter}{last + 1})"
                sheet.write_formula(totals_row, col, formula, fmt, float(sums[col]))
            else:
                sheet.write_number(totals_row, col, 0, fmt)
        elif col == 0:
            sheet.write_string(totals_row, col, f"Total ({last} rows)", total)
        else:
            sheet.write_blank(totals_row, col, None, total)
    book.close()
    out.seek(0)
    return out
