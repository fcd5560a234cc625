"""The catalogue of API.md and the minute allotments of DESIGN.md "Rating usage", as data."""

from django.db import migrations

PRODUCTS = [
    ("AUDIO_CONF", "Audio Conferencing", "Dial in to and out of meetings.", 10),
    ("PHONE_SYSTEM", "Phone System", "A phone number and calling in the cloud.", 20),
    (
        "CALLING_DOMESTIC",
        "Domestic Calling Plan",
        "Minutes for calls within the user's country.",
        30,
    ),
    (
        "CALLING_INTL",
        "Domestic and International Calling Plan",
        "Domestic minutes and international minutes.",
        40,
    ),
    (
        "CALLING_PAYG",
        "Pay-as-you-go Calling Plan",
        "Every outbound minute is paid from credits.",
        50,
    ),
    ("COMMS_CREDITS", "Communications Credits", "Pays for calls the plans do not cover.", 60),
    ("E5", "E5", "Bundle including Audio Conferencing and Phone System.", 70),
]
INCLUDES = {"E5": ["AUDIO_CONF", "PHONE_SYSTEM"]}
REQUIRES_ANY = {
    "CALLING_DOMESTIC": ["PHONE_SYSTEM"],
    "CALLING_INTL": ["PHONE_SYSTEM"],
    "CALLING_PAYG": ["PHONE_SYSTEM"],
    "COMMS_CREDITS": ["AUDIO_CONF", "PHONE_SYSTEM"],
}
DOMESTIC = [(3000, "US,CA,PR"), (1200, "")]
ALLOTMENTS = {
    "CALLING_DOMESTIC": [("domestic", m, c) for m, c in DOMESTIC],
    "CALLING_INTL": [("domestic", m, c) for m, c in DOMESTIC] + [("international", 600, "")],
    "AUDIO_CONF": [("conference_dial_out", 60, "")],
}


def load(apps, schema_editor):
    Product = apps.get_model("licensing", "Product")
    MinuteAllotment = apps.get_model("licensing", "MinuteAllotment")
    products = {}
    for sku, name, description, order in PRODUCTS:
        products[sku], _ = Product.objects.update_or_create(
            sku=sku, defaults={"name": name, "description": description, "sort_order": order}
        )
    for sku, included in INCLUDES.items():
        products[sku].includes.set([products[s] for s in included])
    for sku, needed in REQUIRES_ANY.items():
        products[sku].requires_any.set([products[s] for s in needed])
    for sku, rows in ALLOTMENTS.items():
        for pool, minutes, countries in rows:
            MinuteAllotment.objects.get_or_create(
                product=products[sku], pool=pool, countries=countries, defaults={"minutes": minutes}
            )


class Migration(migrations.Migration):
    dependencies = [("licensing", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
