from django.contrib import admin

from webhooks.models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    # The secret is in no list, form or field here: it is shown once, to the admin who added it.
    list_display = ("url", "organisation", "status", "failure_streak", "created_at")
    list_filter = ("status",)
    search_fields = ("url", "organisation__slug")
    fields = (
        "organisation",
        "url",
        "events",
        "status",
        "disabled_at",
        "disabled_reason",
        "failure_streak",
        "last_success_at",
        "created_by",
        "created_at",
    )
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "event",
        "endpoint",
        "status",
        "response_code",
        "attempts",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status",)
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
