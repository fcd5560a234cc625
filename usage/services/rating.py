"""The rules of DESIGN.md "Rating usage" that authorization and ingest share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from credits_portal.models import Organisation
from credits_portal.process_cache import ProcessCache
from licensing.models import Assignment, DirectoryUser, Pool, Product
from licensing.services import catalogue, effective_skus
from usage.models import CallType, FundedBy
from usage.services.pools import covering_skus

Category = Pool
RECENT_SECONDS = 60  # how old the call path's copy of the catalogue may be


@dataclass
class Rules:
    """The catalogue's rules at one moment: what bundles include, and which licenses draw on
    which pool (operators edit them in the admin)."""

    products: dict[str, Product]
    covering: dict[str, frozenset[str]]
    _held: dict[frozenset[str], frozenset[str]] = field(default_factory=dict)
    # The licenses that do each thing for calls (Product's flags).
    pstn: frozenset[str] = field(init=False)
    conference: frozenset[str] = field(init=False)
    credits: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        def having(flag: str) -> frozenset[str]:
            return frozenset(sku for sku, p in self.products.items() if getattr(p, flag))

        self.pstn = having("makes_pstn_calls")
        self.conference = having("makes_conference_calls")
        self.credits = having("pays_from_credits")

    def held(self, skus: frozenset[str]) -> frozenset[str]:
        """What these assigned SKUs amount to, bundles expanded."""
        if skus not in self._held:
            self._held[skus] = frozenset(effective_skus(set(skus), self.products))
        return self._held[skus]

    def plan_covers(self, category: str | None, skus: frozenset[str]) -> bool:
        return category is not None and bool(skus & self.covering[category])

    def plan_license(self, category: str, skus: frozenset[str]) -> str:
        held = sorted(skus & self.covering[category])
        return held[0] if held else ""

    def license_refusal(self, call_type: str, skus: frozenset[str]) -> str | None:
        """`no_license` when the user holds nothing that makes this kind of call at all."""
        conference = call_type in (CallType.CONFERENCE_DIAL_OUT, CallType.TOLL_FREE_DIAL_IN)
        return None if skus & (self.conference if conference else self.pstn) else "no_license"

    def after_pool(self, organisation: Organisation, skus: frozenset[str]) -> str | None:
        """What pays beyond the pool: credits (legacy commerce with a license that pays from
        them), overage (new commerce), or nothing."""
        if not organisation.holds_credits:
            return FundedBy.OVERAGE
        return FundedBy.CREDITS if skus & self.credits else None

    def credits_license(self, skus: frozenset[str]) -> str:
        """The license that pays from credits, for the record's capability."""
        held = sorted(skus & self.credits)
        return held[0] if held else ""


def rules_now() -> Rules:
    """From the database now: what ingest, which charges, rates with."""
    products = catalogue()
    return Rules(products, {c: frozenset(s) for c, s in covering_skus(products).items()})


_RECENT: ProcessCache[Rules] = ProcessCache("catalogue rules", cap=1, max_age=RECENT_SECONDS)


def rules_recent() -> Rules:
    """This process's copy, at most a minute old: for authorizing calls and sizing holds."""
    return _RECENT.get("rules", rules_now)


def licenses_of(users: list[DirectoryUser]) -> dict[int, frozenset[str]]:
    """Each user's effective licenses (bundles expanded), in one query."""
    assigned: dict[int, set[str]] = {u.pk: set() for u in users}
    for user_id, sku in Assignment.objects.filter(user__in=users).values_list(
        "user_id", "product__sku"
    ):
        assigned[user_id].add(sku)
    rules = rules_now()
    return {pk: rules.held(frozenset(skus)) for pk, skus in assigned.items()}


def category_of(call_type: str, user_country: str, to_country: str) -> str | None:
    if call_type == CallType.OUTBOUND:
        return (
            Category.DOMESTIC
            if to_country and to_country == user_country
            else Category.INTERNATIONAL
        )
    if call_type == CallType.CONFERENCE_DIAL_OUT:
        return Category.CONFERENCE
    return None  # toll-free dial-in and SMS are never covered by a pool


def billed_units(kind: str, duration_seconds: int) -> int:
    return 1 if kind == "sms" else max(math.ceil(duration_seconds / 60), 0)
