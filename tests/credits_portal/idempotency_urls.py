"""A URLconf for testing `idempotent` on its own: one endpoint that writes a row."""

from django.http import HttpRequest
from django.urls import path
from ninja import Schema, Status
from ninja.decorators import decorate_view

from billing.services.contacts import billing_contact_add
from credits_portal.api import admin_auth, build_api, idempotent

api = build_api(urls_namespace="idempotency-test", docs_url=None)


class ContactIn(Schema):
    email: str


@api.post("/contacts", auth=admin_auth, response={201: dict})
@decorate_view(idempotent)
def add_contact(request: HttpRequest, payload: ContactIn):
    contact = billing_contact_add(organisation=request.organisation, email=payload.email)
    return Status(201, {"code": str(contact.code), "email": contact.email})


urlpatterns = [path("api/", api.urls)]
