from django.urls import path

from licensing import views, views_caps

app_name = "licensing"
urlpatterns = [
    path("licenses/", views.licenses, name="licenses"),
    path("users/", views.users, name="users"),
    path("users/bulk/", views.users_bulk, name="users_bulk"),
    path("users/bulk/matching/", views.users_bulk_matching, name="users_bulk_matching"),
    path(
        "users/bulk/matching/confirm/",
        views.users_bulk_matching_confirm,
        name="users_bulk_matching_confirm",
    ),
    path("users/import/", views.users_import, name="users_import"),
    path("users/import/<uuid:code>/", views.users_import_preview, name="users_import_preview"),
    path("users/licenses/import/", views.licenses_import, name="licenses_import"),
    path(
        "users/licenses/import/<uuid:code>/",
        views.licenses_import_preview,
        name="licenses_import_preview",
    ),
    path("users/caps/", views_caps.caps, name="caps"),
    path("users/caps/import/", views_caps.caps_import, name="caps_import"),
    path(
        "users/caps/import/<uuid:code>/",
        views_caps.caps_import_preview,
        name="caps_import_preview",
    ),
    path("users/<uuid:code>/", views.user_detail, name="user"),
    path("users/<uuid:code>/caps/", views_caps.user_caps_edit, name="user_caps"),
    path("users/<uuid:code>/edit/", views.user_edit, name="user_edit"),
]
