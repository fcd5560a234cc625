"""Bulk writes with PostgreSQL COPY, for the batches whose speed matters (usage ingest)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from django.db import connection, models


def copy_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Insert `rows` (values in the order of `fields`, attribute names such as `account_id`)
    into `model`'s table with one COPY, in the caller's transaction. The rows written.

    CSV written by the C `csv` module: text is always quoted, so an empty string stays empty;
    None is written quoted too and read back as NULL in the nullable columns (which therefore
    cannot take an empty string here). Values are str, int, bool, Decimal or aware datetimes.
    """
    buffer = io.StringIO()
    count = 0
    writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    for row in rows:
        writer.writerow(row)
        count += 1
    if not count:
        return 0
    quote = connection.ops.quote_name
    found = [model._meta.get_field(name) for name in fields]
    columns = ", ".join(quote(f.column) for f in found)
    nullable = ", ".join(quote(f.column) for f in found if f.null)
    options = f"FORMAT csv, FORCE_NULL ({nullable})" if nullable else "FORMAT csv"
    sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN ({options})"
    with connection.cursor() as cursor:
        if hasattr(cursor, "copy_expert"):  # psycopg2
            buffer.seek(0)
            cursor.copy_expert(sql, buffer)
        else:  # psycopg 3, which Django prefers when it is installed
            with cursor.copy(sql) as copy:
                copy.write(buffer.getvalue())
    return count
