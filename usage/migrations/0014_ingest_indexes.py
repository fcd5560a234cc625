"""Issue 16: the usage records' indexes that nothing reads are dropped, so that an ingested
record writes six B-trees instead of eight. `usage_org_time` served only the records API, which
now reads `usage_org_kind_time_id` (a range scan a kind, merged); the user foreign key's own
index served no query (the user filters read `usage_org_user_time`; users are never deleted)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("licensing", "0003_call_capabilities"),
        ("usage", "0013_fraud_guards"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="usagerecord",
            name="usage_org_time",
        ),
        migrations.AlterField(
            model_name="usagerecord",
            name="user",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="usage",
                to="licensing.directoryuser",
            ),
        ),
    ]
