from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db.models import DecimalField, Q, Sum, Value
from django.db.models.functions import Coalesce

from billing.exceptions import BillingError
from billing.models import BillingContact, CreditAccount, EnterpriseAgreement, Invoice
from billing.money import format_money, minor_digits, quantum
from billing.services.agreements import (
    AGREEMENT_NUMBER,
    MAX_TERMS_DAYS,
    agreement_approve,
    agreement_register,
)
from billing.services.invoices import invoice_mark_paid


@admin.register(BillingContact)
class BillingContactAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "organisation", "created_at"]
    list_filter = ["organisation"]
    search_fields = ["email", "name", "organisation__slug"]


class AgreementAdminForm(forms.ModelForm):
    class Meta:
        model = EnterpriseAgreement
        fields = ["organisation", "number", "name", "credit_limit", "payment_terms_days"]

    def clean(self):
        data = super().clean()
        registering = self.instance.pk is None or self.instance.is_active
        limit = data.get("credit_limit")
        if registering and limit is None:
            self.add_error("credit_limit", "A registered agreement needs a credit limit.")
        if limit is not None and limit <= 0:
            self.add_error("credit_limit", "The credit limit must be more than zero.")
        organisation = data.get("organisation") or getattr(self.instance, "organisation", None)
        if organisation is not None and not organisation.holds_credits:
            raise forms.ValidationError(
                "New-commerce organisations cannot buy credits: they have no agreements."
            )
        if organisation is not None and limit is not None and limit > 0:
            currency = str(organisation.currency)
            if limit != limit.quantize(quantum(currency)):
                self.add_error("credit_limit", f"At most {minor_digits(currency)} decimals.")
        number = data.get("number")
        if self.instance.pk is None and number and not AGREEMENT_NUMBER.match(number):
            self.add_error("number", "An agreement number has 4 to 40 letters, digits or -.")
        terms = data.get("payment_terms_days")
        if terms is not None and terms > MAX_TERMS_DAYS:
            self.add_error("payment_terms_days", f"At most {MAX_TERMS_DAYS} days.")
        return data


@admin.register(EnterpriseAgreement)
class EnterpriseAgreementAdmin(admin.ModelAdmin):
    """Operators register agreements (with a credit limit and terms) and approve requests."""

    form = AgreementAdminForm
    list_display = [
        "number",
        "name",
        "organisation",
        "status",
        "credit_limit",
        "payment_terms_days",
        "unpaid_total",
        "removed_at",
    ]
    list_filter = ["status", "organisation"]
    search_fields = ["number", "name", "organisation__slug"]
    readonly_fields = ["status", "approved_at", "created_at", "removed_at", "unpaid_total"]
    actions = ["approve"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("organisation")
            .annotate(
                unpaid=Coalesce(
                    Sum("invoices__total", filter=Q(invoices__status=Invoice.Status.DUE)),
                    Value(Decimal(0)),
                    output_field=DecimalField(max_digits=18, decimal_places=4),
                )
            )
        )

    @admin.display(description="Unpaid invoices", ordering="unpaid")
    def unpaid_total(self, obj: EnterpriseAgreement) -> str:
        unpaid = getattr(obj, "unpaid", None)
        if unpaid is None:
            return "—"
        return format_money(unpaid, str(obj.organisation.currency))

    def get_readonly_fields(self, request, obj=None):
        # An agreement stays in its organisation and keeps its number: invoices name it.
        if obj is not None:
            return [*self.readonly_fields, "organisation", "number"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change and not obj.is_active:
            # A request: the operator sets its limit and terms, then approves it (the action).
            super().save_model(request, obj, form, change)
            return
        account = CreditAccount.objects.select_related("organisation").get(
            organisation=obj.organisation
        )
        # The same service as `add_agreement` (the form checked what it would refuse).
        registered, _ = agreement_register(
            account=account,
            number=obj.number,
            credit_limit=obj.credit_limit,
            payment_terms_days=obj.payment_terms_days,
            name=obj.name,
        )
        obj.pk = registered.pk
        obj.refresh_from_db()

    @admin.action(description="Approve the selected requests (they need a credit limit)")
    def approve(self, request, queryset):
        approved = 0
        for agreement in queryset.filter(status=EnterpriseAgreement.Status.REQUESTED):
            try:
                agreement_approve(agreement=agreement)
            except BillingError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                approved += 1
        self.message_user(request, f"{approved} agreement(s) approved.", messages.SUCCESS)

    def has_delete_permission(self, request, obj=None):
        return False  # invoices name agreements; the portal removes them instead


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    """Issued invoices never change; an operator only records that a due one was paid."""

    list_display = [
        "display_number",
        "organisation",
        "kind",
        "status",
        "total",
        "currency",
        "issued_at",
        "due_date",
        "paid_at",
        "agreement",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["account__organisation__slug", "po_number", "agreement__number"]
    list_select_related = ["account__organisation", "agreement"]
    actions = ["mark_paid"]

    @admin.display(description="Organisation")
    def organisation(self, obj: Invoice):
        return obj.account.organisation

    @admin.action(description="Mark the selected due invoices paid", permissions=["mark_paid"])
    def mark_paid(self, request, queryset):
        paid = already = 0
        for invoice in queryset.select_related("account__organisation"):
            try:
                changed = invoice_mark_paid(invoice=invoice)
            except BillingError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            paid, already = paid + changed, already + (not changed)
        self.message_user(
            request, f"{paid} invoice(s) marked paid; {already} already paid.", messages.SUCCESS
        )

    def has_mark_paid_permission(self, request):
        return request.user.has_perm("billing.change_invoice")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
