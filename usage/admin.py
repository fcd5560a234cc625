from django.contrib import admin

from usage.models import Rate, UsageRecord


@admin.register(Rate)
class RateAdmin(admin.ModelAdmin):
    list_display = ["currency", "type", "prefix", "rate_per_unit", "description"]
    list_filter = ["currency", "type"]
    search_fields = ["prefix", "description"]


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

    def has_change_permission(self, request, obj=None):
        return False
