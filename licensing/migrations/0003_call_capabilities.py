"""What a license does for calls, as catalogue data: the flags rating reads instead of SKU codes."""

from django.db import migrations, models

CAPABILITIES = {
    "PHONE_SYSTEM": {"makes_pstn_calls": True},
    "AUDIO_CONF": {"makes_conference_calls": True},
    "COMMS_CREDITS": {"pays_from_credits": True},
}


def load(apps, schema_editor):
    Product = apps.get_model("licensing", "Product")
    for sku, flags in CAPABILITIES.items():
        Product.objects.filter(sku=sku).update(**flags)


class Migration(migrations.Migration):
    dependencies = [("licensing", "0002_catalogue")]

    operations = [
        migrations.AddField(
            model_name="product",
            name="makes_pstn_calls",
            field=models.BooleanField(
                default=False, help_text="Holders may call phone numbers (Phone System)."
            ),
        ),
        migrations.AddField(
            model_name="product",
            name="makes_conference_calls",
            field=models.BooleanField(
                default=False,
                help_text="Holders may dial out of and into meetings (Audio Conferencing).",
            ),
        ),
        migrations.AddField(
            model_name="product",
            name="pays_from_credits",
            field=models.BooleanField(
                default=False,
                help_text="Holders' calls beyond the minute pools are paid from credits, in "
                "legacy commerce (Communications Credits).",
            ),
        ),
        migrations.RunPython(load, migrations.RunPython.noop),
    ]
