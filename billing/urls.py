from django.urls import path

from billing import views

app_name = "billing"
urlpatterns = [
    path("settings/billing-contacts/", views.contact_list, name="contact_list"),
    path("settings/billing-contacts/new/", views.contact_add, name="contact_add"),
    path(
        "settings/billing-contacts/<uuid:code>/remove/", views.contact_remove, name="contact_remove"
    ),
]
