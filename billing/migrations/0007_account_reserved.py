from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0006_reservations"),
        ("credits_portal", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="creditaccount",
            name="reserved",
            field=models.DecimalField(
                decimal_places=4,
                default=0,
                help_text="Held by open reservations of credit-funded calls.",
                max_digits=18,
            ),
        ),
        migrations.AddConstraint(
            model_name="creditaccount",
            constraint=models.CheckConstraint(
                condition=models.Q(("reserved__gte", 0)), name="account_reserved_not_negative"
            ),
        ),
        # Accounts that already have open reservations start from what those hold.
        migrations.RunSQL(
            """
            UPDATE billing_creditaccount a SET reserved = s.total
            FROM (SELECT account_id, SUM(amount) AS total FROM billing_reservation
                  WHERE status = 'open' GROUP BY account_id) s
            WHERE a.id = s.account_id
            """,
            migrations.RunSQL.noop,
        ),
    ]
