"""Daily usage aggregates (issue 16): the report's totals and chart and the funding planner read
them instead of the records. Filled here from the records already stored; from then on ingest
adds to them in the transaction that inserts the records."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("credits_portal", "0003_idempotency_key_scope"),
        ("usage", "0009_refused_calls"),
    ]

    operations = [
        migrations.CreateModel(
            name="DailyUsage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField(help_text="The UTC day the calls and messages started.")),
                (
                    "kind",
                    models.CharField(choices=[("call", "Call"), ("sms", "SMS")], max_length=4),
                ),
                (
                    "type",
                    models.CharField(
                        choices=[
                            ("outbound", "Outbound"),
                            ("conference_dial_out", "Conference dial-out"),
                            ("toll_free_dial_in", "Toll-free dial-in"),
                            ("sms", "SMS"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "funded_by",
                    models.CharField(
                        choices=[
                            ("plan_minutes", "Plan minutes"),
                            ("credits", "Communications Credits"),
                            ("overage", "Overage (billed after use)"),
                            ("none", "Not funded"),
                        ],
                        max_length=15,
                    ),
                ),
                ("domestic", models.BooleanField()),
                ("to_country", models.CharField(blank=True, max_length=2)),
                ("count", models.PositiveIntegerField()),
                ("units", models.PositiveBigIntegerField()),
                ("plan_minutes", models.PositiveBigIntegerField()),
                ("duration_seconds", models.PositiveBigIntegerField()),
                ("charge", models.DecimalField(decimal_places=4, max_digits=22)),
                (
                    "organisation",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="credits_portal.organisation",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=(
                            "organisation",
                            "day",
                            "kind",
                            "type",
                            "funded_by",
                            "domestic",
                            "to_country",
                        ),
                        name="daily_usage_once",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("count__gt", 0)), name="daily_usage_counts_records"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("charge__gte", 0)),
                        name="daily_usage_charge_not_negative",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("plan_minutes__lte", models.F("units"))),
                        name="daily_usage_plan_within_units",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("kind", "sms"), ("type", "sms")),
                            models.Q(("kind", "call"), models.Q(("type", "sms"), _negated=True)),
                            _connector="OR",
                        ),
                        name="daily_usage_kind_of_type",
                    ),
                ],
            },
        ),
        migrations.RunSQL(
            """
        INSERT INTO usage_dailyusage (organisation_id, day, kind, type, funded_by, domestic,
            to_country, count, units, plan_minutes, duration_seconds, charge)
        SELECT organisation_id, (started_at AT TIME ZONE 'UTC')::date, kind, type, funded_by,
               domestic, to_country, COUNT(*), SUM(units), SUM(plan_minutes),
               SUM(duration_seconds), SUM(charge)
        FROM usage_usagerecord
        GROUP BY 1, 2, 3, 4, 5, 6, 7
        """,
            migrations.RunSQL.noop,
        ),
    ]
