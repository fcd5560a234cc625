"""credits_portal's call authorization for Kamailio 5.6, as a KEMI Python script.

Every INVITE from a mapped SIP identity asks POST /api/v1/calls/authorize; an allowed call is
relayed with its dialog timeout set to `max_seconds` (the dialog module sends BYE both ways when
it runs out); a refused one is answered 402/403 with a phrase saying why. When the dialog ends
(BYE, or the timeout) the usage record goes to a spool directory first, then to
POST /api/v1/usage/records; a timer process retries whatever is still spooled, so an outage of
the portal loses no record (the record's id makes a repeat harmless). README.md explains it all.

Settings, all from the environment (the kamailio.cfg beside this file only loads modules):
  CREDITS_PORTAL_URL          the portal, e.g. https://portal.example (required)
  CREDITS_PORTAL_MAPPING      the mapping file (JSON, see mapping.example.json) (required)
  CREDITS_PORTAL_SPOOL        the retry queue's directory (default /var/spool/kamailio/credits)
  CREDITS_PORTAL_NEXT_HOP     where allowed calls go, e.g. sip:10.0.0.5:5060 (default: R-URI)
  CREDITS_PORTAL_TIMEOUT_MS   the authorize/ingest HTTP timeout (default 1000)
  CREDITS_PORTAL_ON_API_DOWN  closed (default) or open
  CREDITS_PORTAL_FAIL_OPEN_SECONDS  how long a call allowed by the open policy may last (3600)
  CREDITS_PORTAL_RETRY_MAX_SECONDS  the longest pause between retries of the spool (30)
  CREDITS_PORTAL_EMERGENCY    comma-separated numbers never refused (default 112,911,999,...)
  CREDITS_PORTAL_TRUSTED      comma-separated networks INVITEs are accepted from (default all)
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ipaddress
import json
import os
import time
import urllib.parse
from datetime import UTC, datetime

import KSR  # provided by Kamailio's app_python3

# The phrase a caller's phone shows for each refusal, and the status it comes with: 402 where
# money (or a spend cap) is what is missing, 403 where no amount of money would help.
REFUSALS = {
    "unknown_user": (403, "Caller not known to the portal"),
    "no_license": (403, "Calling license required"),
    "no_credits_license": (403, "Communications Credits license required"),
    "insufficient_balance": (402, "Insufficient credit"),
    "destination_not_rated": (403, "Destination not available"),
    "cap_reached": (402, "Spending cap reached"),
    "destination_blocked": (403, "Destination blocked"),
}
UNMAPPED = (403, "Caller not mapped to an organisation")
REFUSED_OTHERWISE = (403, "Call not authorized")
API_DOWN = (503, "Call authorization unavailable")
INVALID_NUMBER = (484, "Invalid number")
DEFAULT_EMERGENCY = "112,911,999,000,110,118,119,+112,+911"
CUT = "cut"  # the htable (kamailio.cfg) of the BYEs sent to cut calls, by Call-ID
CALLEE_BYE_WAIT = 0.05  # seconds the answer to a caller's BYE waits for the callee's to go out
BATCH = 1000  # records a request, the API's maximum


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise RuntimeError(f"{name} must be set for credits_portal.py")
    return value


class Settings:
    def __init__(self) -> None:
        url = urllib.parse.urlsplit(_env("CREDITS_PORTAL_URL").rstrip("/"))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise RuntimeError("CREDITS_PORTAL_URL must be http(s)://host[:port][/prefix]")
        self.scheme, self.host, self.port = url.scheme, url.hostname, url.port
        self.prefix = url.path
        self.mapping = _env("CREDITS_PORTAL_MAPPING")
        self.spool = _env("CREDITS_PORTAL_SPOOL", "/var/spool/kamailio/credits")
        self.next_hop = _env("CREDITS_PORTAL_NEXT_HOP", "")
        self.timeout = int(_env("CREDITS_PORTAL_TIMEOUT_MS", "1000")) / 1000
        self.fail_open = _env("CREDITS_PORTAL_ON_API_DOWN", "closed") == "open"
        if _env("CREDITS_PORTAL_ON_API_DOWN", "closed") not in ("open", "closed"):
            raise RuntimeError("CREDITS_PORTAL_ON_API_DOWN is open or closed")
        self.fail_open_seconds = int(_env("CREDITS_PORTAL_FAIL_OPEN_SECONDS", "3600"))
        self.retry_max = float(_env("CREDITS_PORTAL_RETRY_MAX_SECONDS", "30"))
        emergency = _env("CREDITS_PORTAL_EMERGENCY", DEFAULT_EMERGENCY)
        self.emergency = {n.strip() for n in emergency.split(",") if n.strip()}
        trusted = _env("CREDITS_PORTAL_TRUSTED", "")
        self.trusted = [ipaddress.ip_network(n.strip()) for n in trusted.split(",") if n.strip()]


class ApiDown(Exception):
    """No usable answer from the portal: unreachable, too slow, or a 5xx/401/unexpected body."""


class ApiInvalid(Exception):
    """The portal found the request itself invalid (400/422): a number that is not E.164."""


class Portal:
    """One kept-alive HTTP connection per Kamailio process (each worker is its own process)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.connection: http.client.HTTPConnection | None = None

    def post(self, path: str, key: str, body: dict) -> dict:
        data = json.dumps(body).encode()
        headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Connection": "keep-alive",
        }
        reused = self.connection is not None
        try:
            return self._post(path, data, headers)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.close()
            if not reused:
                raise ApiDown("connection lost") from None
            # The server closed the kept-alive connection while it was idle: one fresh try.
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise ApiDown(str(error)) from None
        try:
            return self._post(path, data, headers)
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise ApiDown(str(error)) from None

    def _post(self, path: str, data: bytes, headers: dict) -> dict:
        s = self.settings
        if self.connection is None:
            kind = (
                http.client.HTTPSConnection if s.scheme == "https" else http.client.HTTPConnection
            )
            self.connection = kind(s.host, s.port, timeout=s.timeout)
        self.connection.request("POST", s.prefix + path, body=data, headers=headers)
        response = self.connection.getresponse()
        payload = response.read()
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        if response.status in (400, 422):
            raise ApiInvalid(payload[:300].decode(errors="replace"))
        if response.status != 200:
            raise ApiDown(f"HTTP {response.status}: {payload[:200]!r}")
        try:
            return json.loads(payload)
        except ValueError:
            raise ApiDown("not JSON") from None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class Mapping:
    """The mapping file, re-read whenever it changes on disk (one stat() a call: microseconds)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.stamp: tuple | None = None
        self.users: dict = {}
        self.organisations: dict = {}
        self.toll_free: dict = {}

    def refresh(self) -> None:
        try:
            stat = os.stat(self.path)
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if stamp == self.stamp:
                return
            self.load(stamp)
        except (OSError, ValueError, KeyError, AttributeError) as error:
            # A file being edited by hand, or gone: the last good mapping stays in force.
            KSR.err(f"credits_portal: mapping {self.path} not loaded ({error!r})\n")

    def load(self, stamp: tuple) -> None:
        with open(self.path, encoding="utf-8") as handle:
            data = json.load(handle)
        organisations = {}
        toll_free = {}
        for slug, organisation in data.get("organisations", {}).items():
            key = organisation.get("platform_key", "")
            if organisation.get("platform_key_file"):
                with open(organisation["platform_key_file"], encoding="utf-8") as handle:
                    key = handle.read().strip()
            organisations[slug] = key
            for number, organiser in organisation.get("toll_free", {}).items():
                toll_free[number] = (slug, organiser)
        self.users = data.get("users", {})
        self.organisations, self.toll_free = organisations, toll_free
        self.stamp = stamp
        KSR.info(f"credits_portal: mapping loaded, {len(self.users)} identities\n")

    def caller(self, user: str, domain: str) -> dict | None:
        self.refresh()
        return self.users.get(f"{user}@{domain}") or self.users.get(user)


def e164(value: str) -> str:
    """A dialled string as E.164 where it plainly is one ("0044…" → "+44…"); else unchanged."""
    value = "".join(c for c in value if c not in " -.()")
    if value.startswith("00") and value[2:].isdigit():
        return "+" + value[2:]
    return value


def now_iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class kamailio:  # the class name app_python3 looks for
    def __init__(self) -> None:
        self.settings = Settings()
        self.portal = Portal(self.settings)
        self.mapping = Mapping(self.settings.mapping)
        os.makedirs(os.path.join(self.settings.spool, "rejected"), exist_ok=True)
        self.backoff = 0.0  # the spool timer's, while the portal is down
        self.retry_at = 0.0

    def child_init(self, rank: int) -> int:
        return 0

    # -- requests --------------------------------------------------------------------------

    def ksr_request_route(self, msg) -> int:
        if KSR.maxfwd.process_maxfwd(10) < 0:
            KSR.sl.sl_send_reply(483, "Too Many Hops")
            return 1
        method = KSR.pv.get("$rm")
        if KSR.siputils.has_totag() > 0:
            return self.in_dialog(method)
        if method == "CANCEL":
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return 1
        if method == "ACK":
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return 1
        if method == "OPTIONS":
            KSR.sl.sl_send_reply(200, "OK")
            return 1
        if method != "INVITE":
            KSR.sl.sl_send_reply(405, "Method Not Allowed")
            return 1
        if KSR.tm.t_check_trans() == 0:
            return 1  # a retransmission the transaction already answers
        if not self.trusted(KSR.pv.get("$si")):
            KSR.sl.sl_send_reply(403, "Source not trusted")
            return 1
        # The transaction exists before the portal is asked: the caller's retransmissions are
        # absorbed meanwhile, and 100 tells it to stop sending them.
        KSR.tm.t_newtran()
        KSR.tm.t_reply(100, "Trying")
        try:
            return self.invite()
        except Exception as error:  # the caller gets an answer whatever broke
            KSR.err(f"credits_portal: INVITE not handled ({error!r})\n")
            return self.refuse(500, "Call handling failed")

    def in_dialog(self, method: str) -> int:
        if KSR.rr.loose_route() > 0:
            KSR.tm.t_relay()
            return 1
        if method == "ACK":
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return 1
        KSR.sl.sl_send_reply(404, "Not Here")
        return 1

    def trusted(self, source: str) -> bool:
        networks = self.settings.trusted
        return not networks or any(ipaddress.ip_address(source) in n for n in networks)

    def invite(self) -> int:
        dialled = e164(KSR.pv.get("$rU") or "")
        caller = self.mapping.caller(KSR.pv.get("$fU") or "", KSR.pv.get("$fd") or "")
        if dialled in self.settings.emergency:
            # Never refused, never asked about, never billed.
            KSR.info(f"credits_portal: emergency call to {dialled} relayed\n")
            return self.relay(None)
        toll_free = self.mapping.toll_free.get(dialled)
        if toll_free is not None:
            slug, organiser = toll_free
            request = {"user": organiser, "type": "toll_free_dial_in", "to": dialled}
            caller_number = e164(KSR.pv.get("$fU") or "")
            # An anonymous or non-E.164 caller is still a caller: `from` is left empty.
            request["from"] = caller_number if caller_number.startswith("+") else ""
        elif caller is not None:
            slug = caller["organisation"]
            request = {"user": caller["upn"], "type": caller.get("type", "outbound")}
            request.update({"to": dialled, "from": caller.get("number", "")})
        else:
            return self.refuse(*UNMAPPED)
        key = self.mapping.organisations.get(slug)
        if not key:
            return self.refuse(*UNMAPPED)
        call = {"slug": slug, **request}
        try:
            answer = self.portal.post("/api/v1/calls/authorize", key, request)
        except ApiInvalid as error:
            KSR.info(f"credits_portal: refused {request['user']} -> {dialled}: {error}\n")
            return self.refuse(*INVALID_NUMBER)
        except ApiDown as error:
            KSR.err(
                f"credits_portal: authorize failed ({error}); fail open: {self.settings.fail_open}\n"
            )
            if not self.settings.fail_open:
                return self.refuse(*API_DOWN)
            return self.relay(
                {**call, "authorization_id": "", "max_seconds": self.settings.fail_open_seconds}
            )
        if not answer.get("allowed") or int(answer.get("max_seconds") or 0) <= 0:
            reason = str(answer.get("reason", ""))
            KSR.info(f"credits_portal: refused {request['user']} -> {dialled}: {reason}\n")
            return self.refuse(*REFUSALS.get(reason, REFUSED_OTHERWISE))
        return self.relay({**call, **answer})

    def refuse(self, code: int, phrase: str) -> int:
        KSR.tm.t_reply(code, phrase)
        return 1

    def relay(self, call: dict | None) -> int:
        KSR.rr.record_route()
        if call is not None:
            max_seconds = int(call["max_seconds"])
            KSR.pv.seti("$avp(dlg_timeout)", max_seconds)
            KSR.dialog.dlg_manage()
            for name in ("slug", "user", "type", "from", "to", "authorization_id"):
                KSR.pv.sets(f"$dlg_var({name})", str(call.get(name, "")))
            KSR.pv.sets("$dlg_var(max_seconds)", str(max_seconds))
            authorization = call.get("authorization_id") or "fail-open"
            KSR.info(
                f"credits_portal: allowed {call['user']} -> {call['to']}"
                f" for {max_seconds} s ({authorization})\n"
            )
        if self.settings.next_hop:
            KSR.pv.sets("$du", self.settings.next_hop)
        if KSR.tm.t_relay() < 0:
            KSR.tm.t_reply(500, "Relay failed")
        return 1

    def ksr_reply_route(self, msg) -> int:
        # Run before the transaction sees the reply. When the dialog cuts a call it sends BYE to
        # the caller and then to the callee, from one process; the caller's answer, handled in
        # another, ends the dialog, and if that happens between the two sends, Kamailio 5.6
        # never sends the callee's ("terminating non-confirmed dialogs not supported"). So the
        # answer to a cut call's first BYE waits until the second is out.
        if KSR.pv.get("$rm") != "BYE":
            return 1
        call_id = KSR.pv.get("$ci")
        deadline = time.monotonic() + CALLEE_BYE_WAIT
        while KSR.htable.sht_get(CUT, call_id) == "caller" and time.monotonic() < deadline:
            time.sleep(0.0005)
        return 1

    def ksr_onsend_route(self, msg) -> int:
        return 1

    # -- the end of a call -----------------------------------------------------------------

    def ksr_dialog_event(self, msg, event: str) -> int:
        if event == "dialog:start":
            KSR.pv.sets("$dlg_var(answered)", f"{time.time():.3f}")
            return 1
        if event == "dialog:end":
            self.call_ended("bye")
        return 1  # dialog:failed: never answered, nothing to bill; the hold expires

    def ksr_tm_event(self, msg, event: str) -> int:
        # Kamailio 5.6 runs dialog:end after the timeout's BYEs only if their answers have not
        # ended the dialog first, a race it can lose: the BYE Kamailio itself sends (in the
        # dialog's context) is the reliable sign that the timeout cut the call.
        if event == "tm:local-request" and KSR.pv.get("$rm") == "BYE":
            # The dialog sends the caller's BYE first, then the callee's (ksr_reply_route).
            call_id = KSR.pv.get("$ci")
            sent = "caller" if KSR.htable.sht_get(CUT, call_id) is None else "both"
            KSR.htable.sht_sets(CUT, call_id, sent)
            self.call_ended("timeout")
        return 1

    def call_ended(self, how: str) -> None:
        answered = KSR.pv.get("$dlg_var(answered)")
        slug = KSR.pv.get("$dlg_var(slug)")
        if not answered or not slug or KSR.pv.get("$dlg_var(recorded)"):
            return  # not a call of ours, or its record is spooled already
        KSR.pv.sets("$dlg_var(recorded)", how)
        ended = time.time()
        started = float(answered)
        seconds = round(ended - started)
        limit = int(KSR.pv.get("$dlg_var(max_seconds)") or 0)
        if limit:
            # A call the timeout cut ran its funded time, plus the milliseconds BYE took.
            seconds = min(seconds, limit)
        authorization = KSR.pv.get("$dlg_var(authorization_id)") or ""
        call_id = KSR.pv.get("$dlg(callid)") or ""
        ident = authorization or hashlib.sha256(f"{call_id}/{started}".encode()).hexdigest()[:32]
        record = {
            "id": f"sip-{ident}",
            "kind": "call",
            "type": KSR.pv.get("$dlg_var(type)"),
            "user": KSR.pv.get("$dlg_var(user)"),
            "from": KSR.pv.get("$dlg_var(from)") or "",
            "to": KSR.pv.get("$dlg_var(to)"),
            "started_at": now_iso(started),
            "duration_seconds": seconds,
        }
        if authorization:
            record["authorization_id"] = authorization
        KSR.info(
            f"credits_portal: call ended by {how}, {record['id']} lasted {seconds} s"
            f" ({ended - started:.3f} s measured)\n"
        )
        # Only spooled here: the SIP worker (BYE) or the dialog timer (timeout) must not wait on
        # the portal; the spool timer posts it within its interval (SPOOL_TIMER, 200 ms).
        self.spool_write(slug, record)

    def spool_write(self, slug: str, record: dict) -> str:
        """The record on disk before anything is sent: a crash or outage cannot lose it."""
        path = os.path.join(self.settings.spool, f"{record['id']}.json")
        temporary = path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump({"organisation": slug, "record": record}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        return path

    def ksr_flush_spool(self, msg, name: str = "") -> int:
        if time.monotonic() < self.retry_at:
            return 1
        spool = self.settings.spool
        names = sorted(n for n in os.listdir(spool) if n.endswith(".json"))
        if names:
            self.flush([os.path.join(spool, n) for n in names])
        return 1

    def flush(self, paths: list[str]) -> None:
        """Posts spooled records, per organisation, removing each the portal has recorded."""
        by_organisation: dict[str, list] = {}
        for path in paths:
            try:
                with open(path, encoding="utf-8") as handle:
                    entry = json.load(handle)
            except FileNotFoundError:
                continue  # another process sent it meanwhile
            by_organisation.setdefault(entry["organisation"], []).append((path, entry["record"]))
        self.mapping.refresh()
        for slug, entries in by_organisation.items():
            key = self.mapping.organisations.get(slug)
            if not key:
                KSR.err(f"credits_portal: no platform key for {slug}; records stay spooled\n")
                continue
            for start in range(0, len(entries), BATCH):
                if not self.post_records(key, entries[start : start + BATCH]):
                    return  # the portal is down: the timer tries again

    def post_records(self, key: str, entries: list) -> bool:
        try:
            answer = self.portal.post(
                "/api/v1/usage/records", key, {"records": [r for _, r in entries]}
            )
        except (ApiDown, ApiInvalid) as error:
            # Back off (0.2 s, doubling, up to CREDITS_PORTAL_RETRY_MAX_SECONDS) while it lasts.
            self.backoff = min(max(2 * self.backoff, 0.2), self.settings.retry_max)
            self.retry_at = time.monotonic() + self.backoff
            KSR.warn(
                f"credits_portal: {len(entries)} usage record(s) spooled, portal down ({error});"
                f" next try in {self.backoff:.1f} s\n"
            )
            return False
        self.backoff = 0.0
        for (path, record), result in zip(entries, answer.get("results", []), strict=False):
            status = result.get("status")
            if status == "rejected":
                KSR.err(f"credits_portal: record {record['id']} rejected: {result.get('error')}\n")
                rejected = os.path.join(self.settings.spool, "rejected", os.path.basename(path))
                with open(rejected + ".reason", "w", encoding="utf-8") as handle:
                    json.dump(result, handle)
                _move(path, rejected)
            elif status in ("rated", "duplicate"):
                KSR.info(
                    f"credits_portal: record {record['id']} {status}, charge {result.get('charge')}\n"
                )
                _remove(path)
        return True


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):  # another process sent it meanwhile
        os.remove(path)


def _move(path: str, target: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, target)


def mod_init() -> kamailio:
    return kamailio()
