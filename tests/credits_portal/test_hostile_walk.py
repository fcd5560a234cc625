"""The hostile-input walk of the portal (issue 14): no value a request can carry answers 500.

Every URL pattern of the PAGES table (test_views_tenancy), signed in with each role, and the
public pages anonymously, is called with each hostile value in its path segment, in each query
parameter the page reads, and in each field of the forms the page renders (the other fields keep
the values the page filled in, so that the hostile one is what the view meets). Any 500, and any
answer slower than SLOW seconds, fails the walk; every failure is listed, not just the first.

Sampling, to stay within about a minute: the role that may open a page (GLOBAL, or the page's
first allowed role) meets every value in its path and in every parameter and field one at a
time; the other roles
meet a sample of the values in all parameters and fields at once (the same code reads them; for
a role that may not open the page, a 403 before any is read).
"""

from __future__ import annotations

import time
from html.parser import HTMLParser
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse

from credits_portal.permissions import Role
from tests.credits_portal.test_views_tenancy import PAGES, PUBLIC, _objects

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SLOW = 5.0  # seconds, on a machine shared with other test runs
HOSTILE = [
    "\x00",
    "\ud800",
    "x" * 10_000,
    "-1",
    str(2**63),
    "1e309",
    "true",
    "[]",
    "{}",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
]
# Parameters a page reads that none of its forms renders (links, buttons, pagers).
QUERY_EXTRA: dict[str, list[str]] = {
    "usage:report": ["cursor", "tab", "range", "start", "end"],
    "usage:products_buy": ["sku"],
    "usage:export_csv": [
        *("tab", "range", "start", "end", "user", "type", "direction", "domestic"),
        *("country", "funded_by", "sort"),
    ],
    "usage:export_xlsx": ["tab", "range", "start", "end", "user", "funded_by", "domestic"],
    "usage:pools": ["month"],
    "usage:refused_calls": ["after", "range", "start", "end"],
    "usage:refused_calls_export": ["range", "start", "end", "user", "reason", "type", "after"],
    "licensing:users": ["page", "q", "license", "without", "location", "sort"],
    "audit_log": ["page", "action"],
    "billing:statement": ["month", "format"],
    "billing:credits": ["cursor", "kind"],
    "billing:invoices": ["page"],
    "billing:payment_return": ["payment_intent", "redirect_status", "setup_intent"],
    "billing:card_replace": ["setup_intent", "redirect_status"],
    "login": ["next"],
}
# Added to every request of a page, so that the hostile value reaches the code it would reach
# from the page's own links (a custom range reads its dates).
QUERY_BASE: dict[str, dict[str, str]] = {
    name: {"range": "custom"}
    for name in (
        "usage:report",
        "usage:export_csv",
        "usage:export_xlsx",
        "usage:refused_calls",
        "usage:refused_calls_export",
    )
}
# For the roles other than the walker's: the middleware answers the rest before any role is read.
SAMPLE = [str(2**63), "2026-02-30"]
REFUSED_SAMPLE = ["-1"]
# The report's other filters are the exports' (one FilterSet, usage.filters): walked one at a
# time through export.csv, which is cheaper to render, and all at once on the report.
ONE_AT_A_TIME = {"usage:report": {"range", "start", "end", "cursor", "tab"}}
# Forms whose submission signs the client out.
NEVER_POST = {"logout"}


def wire(value: str) -> str:
    """A value percent-encoded as a client sends it; a lone surrogate as its (invalid) bytes."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def query_string(params: dict[str, str]) -> str:
    return "&".join(f"{wire(k)}={wire(v)}" for k, v in params.items())


class _Forms(HTMLParser):
    """The forms of a page: method, action and each field's name and first value."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append(
                {"method": (a.get("method") or "get").lower(), "action": a.get("action"), "f": {}}
            )
        elif not self.forms or not a.get("name"):
            if tag == "option" and self._select and self.forms:
                fields = self.forms[-1]["f"]
                if fields.get(self._select) in (None, "") or "selected" in a:
                    fields[self._select] = a.get("value", "")
            return
        elif tag in ("input", "textarea", "button"):
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                self.forms[-1]["f"].setdefault(a["name"], None)
                return
            if a["name"] != "csrfmiddlewaretoken":
                self.forms[-1]["f"][a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a["name"]
            self.forms[-1]["f"].setdefault(a["name"], None)

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def page_forms(html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


class Walk:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.requests = 0
        self.slowest = (0.0, "")
        self.by_path: dict[str, float] = {}

    def call(self, client: Client, method: str, path: str, who: str, data=None) -> None:
        started = time.monotonic()
        try:
            if method == "post":
                body = query_string(data or {})
                response = client.post(path, body, content_type="application/x-www-form-urlencoded")
            else:
                response = client.get(path)
            status = response.status_code
            if hasattr(response, "streaming_content"):
                for _chunk in response.streaming_content:  # the export is written here
                    pass
        except Exception as exc:  # the test client re-raises what a view raised: a 500
            status = f"500 ({exc.__class__.__name__}: {str(exc)[:120]})"
        took = time.monotonic() - started
        self.requests += 1
        key = path.split("?")[0][:60]
        self.by_path[key] = self.by_path.get(key, 0.0) + took
        where = f"{who} {method.upper()} {path[:160]}" + (f" {str(data)[:160]}" if data else "")
        if took > self.slowest[0]:
            self.slowest = (took, where)
        if str(status).startswith("5"):
            self.failures.append(f"{status}: {where}")
        elif took > SLOW:
            self.failures.append(f"slow ({took:.1f} s): {where}")


def _client(role: str | None, members) -> Client:
    client = Client()
    if role:
        client.force_login(members[role])
    return client


def _walk_page(walk: Walk, name: str, address: str, role: str | None, members, mode: str):
    client = _client(role, members)
    who = role or "anonymous"
    forms = []
    if mode != "refused":
        first = client.get(address)
        if first.status_code == 200 and "html" in first.get("Content-Type", ""):
            forms = page_forms(first.content.decode())
    base = QUERY_BASE.get(name, {})
    get_params = set(QUERY_EXTRA.get(name, []))
    for form in forms:
        if form["method"] == "get" and form["action"] in (None, "", address):
            get_params |= set(form["f"])
    posts = [
        {k: v or "" for k, v in form["f"].items()}
        for form in forms
        if form["method"] == "post" and form["action"] in (None, "", address) and form["f"]
    ]
    # Each value in every parameter at once, and in every field of each form at once.
    for value in {"full": [], "sample": SAMPLE}.get(mode, REFUSED_SAMPLE):
        params = {**base, **dict.fromkeys(sorted(get_params), value)}
        walk.call(client, "get", f"{address}?{query_string(params)}", who)
        for fields in posts:
            walk.call(client, "post", address, who, dict.fromkeys(fields, value))
    if mode != "full":
        return
    # One parameter at a time: a value refused in one must not hide what another would do.
    one_at_a_time = HOSTILE
    for value in one_at_a_time if name in ONE_AT_A_TIME else []:  # the rest, all at once
        params = {**base, **dict.fromkeys(sorted(get_params), value)}
        walk.call(client, "get", f"{address}?{query_string(params)}", who)
    for param in sorted(get_params & ONE_AT_A_TIME.get(name, get_params)):
        for value in one_at_a_time:
            walk.call(client, "get", f"{address}?{query_string({**base, param: value})}", who)
    if name in NEVER_POST:
        return
    for fields in posts:
        for field in sorted(fields):
            for value in one_at_a_time:
                walk.call(client, "post", address, who, {**fields, field: value})


def _path_variants(name: str, objects: dict[str, str]) -> list[str]:
    """The page's address with each hostile value in place of the object it names."""
    key = PAGES.get(name, (None, None, None))[1]
    if not key:
        return []
    real = reverse(name, args=[objects[key]])
    start = real.index(objects[key])  # codes and record ids reverse as they are
    return [real[:start] + wire(v) + real[start + len(objects[key]) :] for v in HOSTILE]


def test_no_hostile_value_answers_500(org, other_org, members):
    started = time.monotonic()
    objects = _objects(org)
    _objects(other_org)
    walk = Walk()
    for name, (allowed, key, post_only) in sorted(PAGES.items()):
        address = reverse(name, args=[objects[key]] if key else [])
        walker = Role.GLOBAL if Role.GLOBAL in allowed else sorted(allowed)[0]
        for role in Role.values:
            mode = "full" if role == walker else "sample" if role in allowed else "refused"
            client = _client(role, members)
            if mode == "full":
                for path in _path_variants(name, objects):
                    walk.call(client, "post" if post_only else "get", path, role)
            if post_only:
                for value in HOSTILE if mode == "full" else SAMPLE[:1]:
                    walk.call(client, "post", address, role, {"query": value, "x": value})
                continue
            _walk_page(walk, name, address, role, members, mode)
    for name in sorted(PUBLIC - NEVER_POST):
        if name == "password_reset_confirm":
            for value in HOSTILE:
                path = reverse(name, args=["uid", "token"]).replace("uid", wire(value), 1)
                walk.call(Client(), "get", path, "anonymous")
            continue
        if name == "billing:stripe_webhook":
            for value in HOSTILE:
                walk.call(Client(), "post", reverse(name), "anonymous", {"data": value})
            continue
        _walk_page(walk, name, reverse(name), None, members, "full")
    took = time.monotonic() - started
    print(
        f"\nhostile walk: {walk.requests} requests, {len(PAGES)} pages x {len(Role.values)} roles"
        f" + {len(PUBLIC)} public pages, {len(HOSTILE)} values, {took:.1f} s;"
        f" slowest {walk.slowest[0]:.2f} s: {walk.slowest[1]}"
    )
    heaviest = sorted(walk.by_path.items(), key=lambda item: -item[1])[:6]
    print("heaviest pages:", ", ".join(f"{path} {spent:.1f} s" for path, spent in heaviest))
    assert walk.failures == [], "\n".join(walk.failures[:60])
