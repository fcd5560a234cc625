from django.contrib import admin

from usage.models import MinuteHold, Rate, UsageRecord
from usage.services.rates import rate_card_changed


@admin.register(Rate)
class RateAdmin(admin.ModelAdmin):
    list_display = ["currency", "type", "prefix", "rate_per_unit", "description"]
    list_filter = ["currency", "type"]
    search_fields = ["prefix", "description"]

    # The call path keeps each currency's card in memory until its version changes.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        for currency in {str(obj.currency), str(form.initial.get("currency") or obj.currency)}:
            rate_card_changed(currency)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        rate_card_changed(str(obj.currency))

    def delete_queryset(self, request, queryset):
        currencies = {str(c) for c in queryset.values_list("currency", flat=True).distinct()}
        super().delete_queryset(request, queryset)
        for currency in currencies:
            rate_card_changed(currency)


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = [
        "record_id",
        "organisation",
        "type",
        "started_at",
        "units",
        "charge",
        "funded_by",
    ]
    list_filter = ["kind", "type", "funded_by", "organisation"]
    search_fields = ["record_id", "to_number"]

    # Read-only: records come from ingest alone, which debits them and adds them to the daily
    # aggregates in the same transaction; a record added or deleted here would leave both behind.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MinuteHold)
class MinuteHoldAdmin(admin.ModelAdmin):
    """Read-only: holds change only through authorization, ingest and the minute task, which keep
    each pool's `held` equal to its open holds."""

    list_display = ["code", "organisation", "pool", "minutes", "status", "expires_at"]
    list_filter = ["status"]
    search_fields = ["code"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
