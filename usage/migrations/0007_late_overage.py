"""Overage invoices bill records, not months: each overage record names the invoice that billed
it, so a late record of a month already invoiced is billed by the next run (issue 13).

An invoice of the old kind (one per organisation and month) billed the month's overage records
stored before it was issued: they are marked with it here, so that they are not billed again;
those stored after it were never billed and the next run invoices them as late records.
"""

from datetime import UTC, datetime, timedelta

import django.db.models.deletion
from django.db import migrations, models


def mark_billed_records(apps, schema_editor):
    OverageInvoice = apps.get_model("usage", "OverageInvoice")
    UsageRecord = apps.get_model("usage", "UsageRecord")
    for overage in OverageInvoice.objects.select_related("invoice").order_by("pk"):
        start, end = overage.period_start, overage.period_end + timedelta(days=1)
        UsageRecord.objects.filter(
            organisation_id=overage.organisation_id,
            funded_by="overage",
            overage_invoice__isnull=True,
            started_at__gte=datetime(start.year, start.month, start.day, tzinfo=UTC),
            started_at__lt=datetime(end.year, end.month, end.day, tzinfo=UTC),
            created_at__lte=overage.invoice.issued_at,
        ).update(overage_invoice=overage)


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0006_minute_holds"),
        # Billing's 0008 reads the overage invoices' months before this renames the column.
        ("billing", "0008_agreement_credit_limit"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="overageinvoice",
            name="one_overage_invoice_a_month",
        ),
        migrations.RenameField(
            model_name="overageinvoice",
            old_name="month",
            new_name="period_start",
        ),
        migrations.AlterField(
            model_name="overageinvoice",
            name="period_start",
            field=models.DateField(help_text="The first day of the earliest month billed."),
        ),
        migrations.AddField(
            model_name="overageinvoice",
            name="period_end",
            field=models.DateField(null=True, help_text="The last day of the latest month billed."),
        ),
        # An invoice of the old kind covered one month.
        migrations.RunSQL(
            "UPDATE usage_overageinvoice"
            " SET period_end = (period_start + interval '1 month' - interval '1 day')::date",
            migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="overageinvoice",
            name="period_end",
            field=models.DateField(help_text="The last day of the latest month billed."),
        ),
        migrations.AddConstraint(
            model_name="overageinvoice",
            constraint=models.CheckConstraint(
                condition=models.Q(("period_start__lte", models.F("period_end"))),
                name="overage_period_in_order",
            ),
        ),
        migrations.AddField(
            model_name="usagerecord",
            name="overage_invoice",
            field=models.ForeignKey(
                blank=True,
                help_text="The overage invoice that billed this record (overage only).",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="records",
                to="usage.overageinvoice",
            ),
        ),
        migrations.AddIndex(
            model_name="usagerecord",
            index=models.Index(
                condition=models.Q(
                    ("charge__gt", 0), ("funded_by", "overage"), ("overage_invoice__isnull", True)
                ),
                fields=["organisation", "started_at"],
                name="usage_overage_unbilled",
            ),
        ),
        # Last: the deferred foreign-key checks this queues must not meet an ALTER TABLE.
        migrations.RunPython(mark_billed_records, migrations.RunPython.noop),
    ]
