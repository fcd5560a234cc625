from django.contrib import admin

from licensing.models import (
    AssignmentEvent,
    DirectoryUser,
    MinuteAllotment,
    Product,
    ProductPrice,
    Subscription,
)
from licensing.services import licensing_changed


class MinuteAllotmentInline(admin.TabularInline):
    model = MinuteAllotment
    extra = 0


class ProductPriceInline(admin.TabularInline):
    model = ProductPrice
    extra = 0


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "sku",
        "name",
        "makes_pstn_calls",
        "makes_conference_calls",
        "pays_from_credits",
        "sort_order",
    ]
    filter_horizontal = ["includes", "requires_any"]
    inlines = [ProductPriceInline, MinuteAllotmentInline]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["organisation", "product", "seats", "assigned", "releasing"]
    list_filter = ["product", "organisation"]
    readonly_fields = ["assigned", "releasing"]


@admin.register(DirectoryUser)
class DirectoryUserAdmin(admin.ModelAdmin):
    list_display = ["upn", "display_name", "organisation", "usage_location"]
    list_filter = ["organisation", "usage_location"]
    search_fields = ["upn", "display_name"]

    def get_readonly_fields(self, request, obj=None):
        # A user stays in their organisation: their licenses and usage belong to it.
        return ["organisation"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        obj.upn = obj.upn.strip().lower()  # as every other door stores it
        super().save_model(request, obj, form, change)
        licensing_changed(obj.organisation_id)  # a usage location sizes pools and prices calls

    def has_delete_permission(self, request, obj=None):
        # Deleting here would bypass the seat counts and the usage history that refers to users.
        return False


@admin.register(AssignmentEvent)
class AssignmentEventAdmin(admin.ModelAdmin):
    list_display = ["at", "organisation", "user", "action", "product", "actor", "source"]
    list_filter = ["action", "source", "organisation"]

    def has_change_permission(self, request, obj=None):
        return False
