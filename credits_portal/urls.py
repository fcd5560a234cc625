from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from billing.api import router as billing_api
from billing.api_alerts import router as billing_alerts_api
from billing.api_purchases import router as billing_purchases_api
from credits_portal import views
from credits_portal.api import api
from credits_portal.forms import LoginForm
from licensing.api import router as licensing_api
from usage.api import router as usage_api
from usage.api_caps import router as usage_caps_api
from usage.api_fraud import router as usage_fraud_api
from usage.api_seats import router as usage_seats_api
from webhooks.api import router as webhooks_api

auth_patterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            authentication_form=LoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("password/reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]

handler404 = views.not_found

api.add_router("", billing_api)
api.add_router("", billing_alerts_api)
api.add_router("", billing_purchases_api)
api.add_router("", licensing_api)
api.add_router("", usage_api)
api.add_router("", usage_seats_api)
api.add_router("", webhooks_api)
api.add_router("", usage_caps_api)
api.add_router("", usage_fraud_api)

urlpatterns = [
    path("", views.home, name="home"),
    path("organisation/switch/", views.switch_organisation, name="switch_organisation"),
    path("settings/audit-log/", views.audit_log, name="audit_log"),
    path("settings/api-keys/", views.api_key_list, name="api_key_list"),
    path("settings/api-keys/new/", views.api_key_create, name="api_key_create"),
    path("settings/api-keys/<slug:prefix>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("", include("billing.urls")),
    path("", include("licensing.urls")),
    path("", include("usage.urls")),
    path("", include("webhooks.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    *auth_patterns,
]
