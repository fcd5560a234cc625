"""One export of the report, assembled once: the records its filters select, the admin's columns
and time zone, written as CSV or Excel. The synchronous export views and the export job both
assemble it here, so the two files are the same file."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from usage.exports import Column, columns_for, csv_rows, xlsx_file
from usage.filters import report_queryset, with_lots_drawn
from usage.models import ExportJob, ReportPreference, UsageRecord
from usage.preferences import chosen_columns, preference_for


@dataclass(frozen=True)
class ReportExport:
    organisation: object
    kind: str
    filters: object
    records: object  # the filtered records, plain: counts and totals read these
    columns: list[Column]
    zone: zoneinfo.ZoneInfo
    preference: ReportPreference

    @property
    def rows(self):
        """The records as the columns read them: with the lots each drew only when that column
        is chosen (a subquery a row, an index probe with the account's id)."""
        if any(key == "lots" for key, _title, _get in self.columns):
            return with_lots_drawn(self.records, organisation_id=self.organisation.pk)
        return self.records

    @property
    def masked(self) -> bool:
        """The admin's choice to mask the numbers SMS were sent to."""
        return self.kind == UsageRecord.Kind.SMS and self.preference.mask_sms_numbers

    def filename(self, tag: str, fmt: str) -> str:
        noun = "calls" if self.kind == UsageRecord.Kind.CALL else "sms"
        return f"{self.organisation.slug}-{noun}-{tag}.{fmt}"

    def csv_lines(self, progress: Callable[[int], None] | None = None) -> Iterator[str]:
        return csv_rows(self.rows, self.columns, self.zone, progress, masked=self.masked)

    def xlsx(self, out=None, progress: Callable[[int], None] | None = None):
        return xlsx_file(
            self.rows,
            self.kind,
            self.columns,
            self.zone,
            str(self.organisation.currency),
            out=out,
            progress=progress,
            masked=self.masked,
        )

    def write(self, fmt: str, out, progress: Callable[[int], None] | None = None) -> None:
        """The file in `fmt` (an ExportJob.Format) written to the binary stream `out`."""
        if fmt == ExportJob.Format.CSV:
            for line in self.csv_lines(progress):
                out.write(line.encode("utf-8"))
        else:
            self.xlsx(out=out, progress=progress)


def export_assemble(*, organisation, user, kind: str, params) -> ReportExport:
    """The report's export for `kind` (a UsageRecord.Kind) under the filters in `params` (a
    QueryDict), with `user`'s columns and time zone."""
    filters, records = report_queryset(organisation, kind, params)
    preference = preference_for(user)
    keys = preference.call_columns if kind == UsageRecord.Kind.CALL else preference.sms_columns
    return ReportExport(
        organisation=organisation,
        kind=kind,
        filters=filters,
        records=records,
        columns=chosen_columns(columns_for(kind), keys),
        zone=zoneinfo.ZoneInfo(preference.time_zone),
        preference=preference,
    )
