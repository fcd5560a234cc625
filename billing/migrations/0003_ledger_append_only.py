from django.db import migrations

APPEND_ONLY = """
CREATE FUNCTION billing_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'billing_ledgerentry is append-only: post a reversing entry instead'
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER billing_ledger_append_only
    BEFORE UPDATE OR DELETE ON billing_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS billing_ledger_append_only ON billing_ledgerentry;
DROP FUNCTION IF EXISTS billing_ledger_append_only();
"""


def open_accounts(apps, schema_editor):
    Organisation = apps.get_model("credits_portal", "Organisation")
    CreditAccount = apps.get_model("billing", "CreditAccount")
    for organisation in Organisation.objects.filter(credit_account__isnull=True):
        CreditAccount.objects.create(organisation=organisation, currency=organisation.currency)


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_ledger")]

    operations = [
        migrations.RunSQL(APPEND_ONLY, DROP),
        migrations.RunPython(open_accounts, migrations.RunPython.noop),
    ]
