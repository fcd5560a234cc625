"""How fast is the Users page with 50,000 directory users?

    .venv/bin/python -m credits_portal.embedded test -- .venv/bin/python bench/users_page.py

Creates (once) an organisation `bench-users` with 50,000 users and licenses in the embedded
database, then times the page for a plain listing, a search, a license filter, a location
filter, a sort and a deep page. Prints the median of 5 runs for each, and the query count.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "credits_portal.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from credits_portal import services  # noqa: E402
from credits_portal.models import Organisation  # noqa: E402
from licensing.models import Assignment, DirectoryUser, Product  # noqa: E402

USERS = 50_000


def setup() -> Organisation:
    call_command("migrate", verbosity=0)
    organisation = Organisation.objects.filter(
        slug="bench-users"
    ).first() or services.organisation_create(slug="bench-users", name="Bench Users")
    if DirectoryUser.objects.filter(organisation=organisation).count() < USERS:
        countries = ["US", "GB", "DE", "JP", "KR"]
        DirectoryUser.objects.bulk_create(
            [
                DirectoryUser(
                    organisation=organisation,
                    upn=f"user{n:05d}@bench.example",
                    display_name=f"Bench User {n:05d}",
                    usage_location=countries[n % 5],
                )
                for n in range(USERS)
            ],
            batch_size=5000,
            ignore_conflicts=True,
        )
        products = {p.sku: p for p in Product.objects.all()}
        users = list(
            DirectoryUser.objects.filter(organisation=organisation).values_list("pk", flat=True)
        )
        Assignment.objects.bulk_create(
            [Assignment(user_id=pk, product=products["PHONE_SYSTEM"]) for pk in users]
            + [Assignment(user_id=pk, product=products["COMMS_CREDITS"]) for pk in users[::3]],
            batch_size=5000,
            ignore_conflicts=True,
        )
    return organisation


def main() -> None:
    organisation = setup()
    membership = services.membership_grant(
        organisation=organisation, email="bench@bench.example", role="license"
    )
    client = Client()
    client.force_login(membership.user)
    cases = {
        "list, first page": {},
        "search 'user4242'": {"q": "user4242"},
        "license COMMS_CREDITS": {"license": "COMMS_CREDITS"},
        "location JP, sorted by UPN desc": {"location": "JP", "sort": "-upn"},
        "page 900": {"page": "900"},
    }
    print(f"Users page, {DirectoryUser.objects.filter(organisation=organisation).count():,} users")
    for name, params in cases.items():
        timings = []
        for _ in range(5):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get("/users/", params)
                timings.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
        median = statistics.median(timings) * 1000
        print(f"  {name:35s} median {median:7.1f} ms  {len(queries)} queries")


if __name__ == "__main__":
    main()
