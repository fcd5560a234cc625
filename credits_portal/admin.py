from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from credits_portal.models import ApiKey, Membership, Organisation, User


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "currency", "country", "commerce", "created_at"]
    list_filter = ["commerce", "currency"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        # The currency of an organisation with money in it never changes, nor its commerce
        # model: credits held, auto-recharge and overage billing all follow from it.
        return ["slug", "currency", "commerce"] if obj else []


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "last_login"]
    search_fields = ["email", "name"]
    fieldsets = [
        (None, {"fields": ["email", "password", "name"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    filter_horizontal = []
    list_filter = ["is_staff", "is_active"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "organisation",
        "scope",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["scope", "organisation"]
    readonly_fields = [
        "prefix",
        "secret_hash",
        "organisation",
        "scope",
        "created_by",
        "created_at",
        "last_used_at",
    ]

    def has_add_permission(self, request):
        # Keys are made in the portal or with create_api_key, which show the secret once.
        return False
