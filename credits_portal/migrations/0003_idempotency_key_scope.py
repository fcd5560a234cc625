"""Idempotency keys belong to the API key that sent them (issue 14, finding 7).

The responses stored so far name no API key: replaying one to any key of the organisation is
the fault this fixes, so they are forgotten (the replay window is a day; a client that retries
one of them runs its request again, which each operation makes safe by its own references)."""

import django.db.models.deletion
from django.db import migrations, models


def forget_unscoped(apps, schema_editor):
    apps.get_model("credits_portal", "IdempotencyKey").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("credits_portal", "0002_audit_log"),
    ]

    operations = [
        migrations.RunPython(forget_unscoped, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="idempotencykey",
            name="idempotency_key_unique",
        ),
        migrations.AddField(
            model_name="idempotencykey",
            name="api_key",
            field=models.ForeignKey(
                default=None,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="credits_portal.apikey",
            ),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name="idempotencykey",
            constraint=models.UniqueConstraint(
                fields=("organisation", "api_key", "key"), name="idempotency_key_unique"
            ),
        ),
    ]
