from django.urls import path

from billing.views import (
    alerts,
    contacts,
    credits,
    invoices,
    methods,
    payments,
    statements,
    webhook,
)

app_name = "billing"
urlpatterns = [
    path("billing/credits/", credits.credits, name="credits"),
    path("billing/credits/add/", credits.add_funds, name="add_funds"),
    path("billing/credits/auto-recharge/", credits.auto_recharge, name="auto_recharge"),
    path(
        "billing/credits/auto-recharge/confirm/",
        credits.auto_recharge_confirm,
        name="auto_recharge_confirm",
    ),
    path("billing/credits/add/agreement/", credits.add_funds_agreement, name="add_funds_agreement"),
    path("billing/payments/<uuid:code>/", payments.payment, name="payment"),
    path("billing/payments/<uuid:code>/charge/", payments.payment_charge, name="payment_charge"),
    path("billing/payments/<uuid:code>/return/", payments.payment_return, name="payment_return"),
    path("billing/payment-methods/", methods.payment_methods, name="payment_methods"),
    path("billing/payment-methods/card/", methods.card_replace, name="card_replace"),
    path(
        "billing/payment-methods/card/<uuid:code>/remove/", methods.card_remove, name="card_remove"
    ),
    path("billing/payment-methods/agreements/new/", methods.agreement_new, name="agreement_new"),
    path(
        "billing/payment-methods/agreements/<uuid:code>/remove/",
        methods.agreement_delete,
        name="agreement_remove",
    ),
    path("billing/payment-methods/recharge/", methods.recharge_method, name="recharge_method"),
    path("billing/statements/", statements.statement, name="statement"),
    path("billing/invoices/", invoices.invoice_list, name="invoices"),
    path("billing/invoices/<uuid:code>/", invoices.invoice_detail, name="invoice"),
    path("billing/invoices/<uuid:code>/pdf/", invoices.invoice_download, name="invoice_pdf"),
    path("billing/stripe/webhook/", webhook.stripe_webhook, name="stripe_webhook"),
    path("settings/alerts/", alerts.alerts, name="alerts"),
    path("settings/billing-contacts/", contacts.contact_list, name="contact_list"),
    path("settings/billing-contacts/new/", contacts.contact_add, name="contact_add"),
    path(
        "settings/billing-contacts/<uuid:code>/remove/",
        contacts.contact_remove,
        name="contact_remove",
    ),
]
