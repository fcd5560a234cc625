"""SIPp's message traces read for bench/sip_calls.py: each call's moments as the caller and the
answering side saw them, the post-dial delay, and the calls held past their funded time."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

T1_MS = 500  # SIP's retransmission timer: a UAC past it sends its INVITE again


@dataclass
class Call:
    user: int
    to: str
    kind: str  # "hangup" or "cut"


@dataclass
class Step:
    mode: str
    rate: int
    offered: int
    span: float = 0.0  # seconds from the first INVITE to the last
    answered: dict[str, float] = field(default_factory=dict)  # number called: seconds connected
    finals: Counter = field(default_factory=Counter)  # refusals and errors, by status
    unanswered: int = 0  # no final answer at all
    pdd: list[float] = field(default_factory=list)  # ms, INVITE to the first 180/200
    cut: list[float] = field(default_factory=list)  # seconds connected, calls the proxy cut
    overruns: int = 0  # calls the proxy should have cut and did not
    callee: dict[str, float] = field(default_factory=dict)  # number: the answering side's time
    early: int = 0  # calls cut before they hung up (they were funded for longer)
    load: float = 0.0
    records: dict = field(default_factory=dict)  # the usage records' checks (authorize only)

    @property
    def rate_kept(self) -> float:
        return (self.offered - 1) / self.span if self.span else 0.0

    def p(self, percent: float) -> float:
        ordered = sorted(self.pdd) or [float("nan")]
        return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]

    @property
    def failed(self) -> int:
        return self.offered - len(self.answered)

    @property
    def sustained(self) -> bool:
        return not self.failed and self.rate_kept >= 0.95 * self.rate and self.p(99) < T1_MS


def messages(lines: list[str]):
    """SIPp's message trace, one line a message: date, time, epoch, S/R, Call-ID, CSeq, the
    first line."""
    for line in lines:
        parts = line.split("\t")
        if len(parts) >= 7:
            yield float(parts[2]), parts[3], parts[4], parts[5], parts[6]


def read_trace(step: Step, lines: list[str], planned: list[Call]) -> dict[str, Call]:
    """Each call's moments as the caller saw them; the calls by Call-ID."""
    moments: dict[int, dict[str, float]] = {}
    finals: dict[int, int] = {}
    ids: dict[str, Call] = {}
    for at, direction, call_id, cseq, first in messages(lines):
        number = int(call_id.split("-", 1)[0])
        ids[call_id] = planned[number - 1]
        seen = moments.setdefault(number, {})
        if direction == "S" and first.startswith("INVITE "):
            seen.setdefault("invite", at)
        elif direction == "S" and first.startswith("BYE "):
            seen.setdefault("bye_out", at)
        elif direction == "R" and first.startswith("BYE "):
            seen.setdefault("bye_in", at)
        elif direction == "R" and cseq.endswith(" INVITE") and first.startswith("SIP/2.0 "):
            status = int(first.split()[1])
            if status in (180, 200):
                seen.setdefault("ring", at)
            if status == 200:
                seen.setdefault("answer", at)
            elif status >= 300:
                finals.setdefault(number, status)
    invites = [m["invite"] for m in moments.values() if "invite" in m]
    step.span = max(invites) - min(invites) if invites else 0.0
    for number, seen in moments.items():
        call = planned[number - 1]
        if "answer" not in seen:
            if number in finals:
                step.finals[finals[number]] += 1
            else:
                step.unanswered += 1
            continue
        step.pdd.append((seen["ring"] - seen["invite"]) * 1000)
        bye_in, bye_out = seen.get("bye_in", float("inf")), seen.get("bye_out", float("inf"))
        ended = min(bye_in, bye_out)
        step.answered[call.to] = ended - seen["answer"]
        if call.kind == "cut" and bye_in < bye_out:
            step.cut.append(ended - seen["answer"])
        elif call.kind == "cut":
            step.overruns += 1
        elif bye_in < bye_out:
            step.early += 1
    step.unanswered += step.offered - len(moments)
    return ids


def read_callee(step: Step, lines: list[str], ids: dict[str, Call]) -> None:
    """How long the answering side stayed connected: from its 200 to the BYE it received (a
    call it never received a BYE for is connected still)."""
    answered: dict[str, float] = {}
    for at, direction, call_id, cseq, first in messages(lines):
        call = ids.get(call_id)
        if call is None or call.to not in step.answered:
            continue
        if direction == "S" and first.startswith("SIP/2.0 200") and cseq.endswith(" INVITE"):
            answered.setdefault(call.to, at)
        elif direction == "R" and first.startswith("BYE ") and call.to in answered:
            step.callee.setdefault(call.to, at - answered[call.to])
    for to in step.answered:
        step.callee.setdefault(to, float("inf"))


def beyond_funded(step: Step, funded: int) -> int:
    """Calls either side of which stayed connected more than a second past the funded time."""
    return sum(
        1
        for to, seconds in step.answered.items()
        if max(seconds, step.callee.get(to, 0.0)) > funded + 1
    )
