from django.urls import path

from usage import views

app_name = "usage"
urlpatterns = [
    path("reports/usage/", views.report, name="report"),
    path("reports/usage/export.csv", views.export_csv, name="export_csv"),
    path("reports/usage/preferences/", views.preferences, name="preferences"),
    path("reports/usage/columns/", views.columns, name="columns"),
    path("reports/usage/exports/<uuid:code>/", views.export_job, name="export_job"),
    path(
        "reports/usage/exports/<uuid:code>/download", views.export_download, name="export_download"
    ),
    path("reports/usage/export.xlsx", views.export_xlsx, name="export_xlsx"),
    # Record ids are the platform's own strings, slashes and all.
    path("reports/usage/records/<path:record_id>", views.record_detail, name="record"),
]
