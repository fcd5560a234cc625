from django.urls import path

from webhooks import views

app_name = "webhooks"
urlpatterns = [
    path("settings/webhooks/", views.endpoint_list, name="list"),
    path("settings/webhooks/new/", views.endpoint_create, name="create"),
    path("settings/webhooks/<uuid:code>/", views.endpoint_detail, name="endpoint"),
    path("settings/webhooks/<uuid:code>/test/", views.endpoint_test, name="test"),
    path("settings/webhooks/<uuid:code>/enable/", views.endpoint_enable, name="enable"),
    path("settings/webhooks/<uuid:code>/remove/", views.endpoint_delete, name="delete"),
]
