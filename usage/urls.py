from django.urls import path

from usage import reports, views, views_fraud, views_products

app_name = "usage"
urlpatterns = [
    path("billing/products/", views_products.products, name="products"),
    path("billing/products/buy/", views_products.products_buy, name="products_buy"),
    path(
        "billing/products/buy/confirm/",
        views_products.products_buy_confirm,
        name="products_buy_confirm",
    ),
    path("billing/products/release/", views_products.products_release, name="products_release"),
    path(
        "billing/products/release/confirm/",
        views_products.products_release_confirm,
        name="products_release_confirm",
    ),
    path("pricing/", views_products.pricing, name="pricing"),
    path("settings/fraud-guards/", views_fraud.fraud_guards, name="fraud_guards"),
    path("reports/usage/", views.report, name="report"),
    path("reports/usage/export.csv", views.export_csv, name="export_csv"),
    path("reports/usage/preferences/", views.preferences, name="preferences"),
    path("reports/usage/columns/", views.columns, name="columns"),
    path("reports/usage/exports/<uuid:code>/", views.export_job, name="export_job"),
    path(
        "reports/usage/exports/<uuid:code>/download", views.export_download, name="export_download"
    ),
    path("reports/usage/export.xlsx", views.export_xlsx, name="export_xlsx"),
    path("reports/pools/", reports.pools, name="pools"),
    path("reports/refused-calls/", reports.refused_calls_page, name="refused_calls"),
    path(
        "reports/refused-calls/export.csv",
        reports.refused_calls_export,
        name="refused_calls_export",
    ),
    # Record ids are the platform's own strings, slashes and all.
    path("reports/usage/records/<path:record_id>", views.record_detail, name="record"),
]
