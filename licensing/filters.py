from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, Q
from django_countries import countries

from licensing.models import Assignment, DirectoryUser, Product


class DirectoryUserFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    license = django_filters.ModelChoiceFilter(
        queryset=Product.objects.all(),
        to_field_name="sku",
        method="holding",
        label="License",
        empty_label="Any license",
    )
    without = django_filters.ModelChoiceFilter(
        queryset=Product.objects.all(),
        to_field_name="sku",
        method="lacking",
        label="Without license",
        empty_label="(none)",
    )
    location = django_filters.ChoiceFilter(
        field_name="usage_location",
        choices=list(countries),
        label="Usage location",
        empty_label="Anywhere",
    )
    sort = django_filters.OrderingFilter(
        fields=(
            ("display_name", "name"),
            ("upn", "upn"),
            ("usage_location", "location"),
            ("created_at", "created"),
        ),
        label="Sort",
    )

    class Meta:
        model = DirectoryUser
        fields: list[str] = []

    def holding(self, queryset, name, value):
        # EXISTS, not a join: no DISTINCT over tens of thousands of users.
        return queryset.filter(
            Exists(Assignment.objects.filter(user=OuterRef("pk"), product=value))
        )

    def lacking(self, queryset, name, value):
        return queryset.exclude(
            Exists(Assignment.objects.filter(user=OuterRef("pk"), product=value))
        )

    def search(self, queryset, name, value):
        value = value.strip()
        return (
            queryset.filter(Q(upn__icontains=value) | Q(display_name__icontains=value))
            if value
            else queryset
        )
