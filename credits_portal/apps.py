from django.apps import AppConfig


class CreditsPortalConfig(AppConfig):
    name = "credits_portal"
    verbose_name = "Organisations and access"
