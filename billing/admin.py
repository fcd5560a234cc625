from django.contrib import admin

from billing.models import BillingContact


@admin.register(BillingContact)
class BillingContactAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "organisation", "created_at"]
    list_filter = ["organisation"]
    search_fields = ["email", "name", "organisation__slug"]
