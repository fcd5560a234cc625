"""The export job's kind and format are choices (issue 15, item 5): Django's validation only."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0007_late_overage"),
    ]

    operations = [
        migrations.AlterField(
            model_name="exportjob",
            name="format",
            field=models.CharField(choices=[("csv", "CSV"), ("xlsx", "Excel")], max_length=4),
        ),
        migrations.AlterField(
            model_name="exportjob",
            name="kind",
            field=models.CharField(choices=[("call", "Call"), ("sms", "SMS")], max_length=4),
        ),
    ]
