"""One miner connection's protocol state: subscribe, authorize, configure, difficulty, submit.

No I/O: ``handle`` takes a decoded request and the time and returns the lines to send and the
share events to count, so every rule is testable without a socket.

A job id keeps the difficulty it was first sent with, always, and a share is judged at its
job's difficulty: a new difficulty (vardiff, ``mining.suggest_difficulty``, ``d=`` in the
password) comes only with a new job id, and never refuses work already under way. The work
sent under that new id is this connection's variant of the current job (``jobs.variant``:
another coinbase, so another header), since a miner like cpuminer switches work only when
the header changes and would otherwise go on hashing at the old difficulty.
A reconnecting miner that names its earlier subscription (``mining.subscribe``'s second
parameter) gets that session's extranonce1, difficulty and jobs back, so its work in flight
still counts at the difficulties it was sent with.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from poolstats.domain.block import target_of
from poolstats.domain.share import ShareEvent, agent_text
from poolstats.stratum import protocol
from poolstats.stratum.coinbase import EXTRANONCE2_SIZE
from poolstats.stratum.jobs import Entry, JobBook, id_number, notify_params, variant
from poolstats.stratum.shares import Checked, Code, Job, JobShares, ShareError, Submission, check
from poolstats.stratum.vardiff import Vardiff

VERSION_ROLLING_MASK = 0x1FFFE000  # BIP 320's general-purpose bits
REMEMBERED_JOBS = 32
_HEX = re.compile(r"[0-9a-fA-F]+")
_DIFF_PASSWORD = re.compile(r"(?:^|,)\s*d=([0-9]+(?:\.[0-9]+)?)\s*(?:,|$)")


@dataclass(frozen=True)
class Limits:
    """Share difficulty bounds and the starting difficulty of a connection."""

    min_diff: Fraction = Fraction(1)
    max_diff: Fraction = Fraction(2**40)
    start_diff: Fraction = Fraction(1)
    share_interval_s: float = 10.0  # vardiff aims at one share this often (0: fixed)

    def clamp(self, diff: Fraction) -> Fraction:
        return min(max(diff, self.min_diff), self.max_diff)


@dataclass
class Worker:
    puid: int
    name: str


@dataclass(frozen=True)
class Found:
    """An accepted share that also meets the network target: a block to assemble and submit."""

    checked: Checked
    job: Job
    worker: Worker
    ts: float


@dataclass(frozen=True, slots=True)
class Sent:
    """A job as this connection was sent it."""

    entry: Entry  # the pool's job it is, or is a variant of: stale when that one is
    job: Job  # the work under its id (a variant has a coinbase of its own)
    diff: Fraction  # what its shares are judged at, for good
    shares: JobShares  # the shares seen of this work (a variant's are its own)

    @property
    def notify_line(self) -> bytes:
        if self.job is self.entry.job:
            return self.entry.notify_line  # encoded once for every connection
        return protocol.notify("mining.notify", notify_params(self.job, self.entry.clean))


@dataclass
class Outcome:
    lines: list[bytes] = field(default_factory=list)
    shares: list[ShareEvent] = field(default_factory=list)  # what ingest counts
    bad: bool = False  # a malformed or refused request (counts toward a ban)
    code: Code | None = None  # the error answered, if any
    found: Found | None = None


class Session:
    # A node holds tens of thousands of these: slots keep each one smaller than a dict would.
    __slots__ = (
        "_newest_id",
        "_sent",
        "agent",
        "difficulty",
        "extranonce1",
        "ip",
        "jobs",
        "last_seen",
        "limits",
        "puid_of",
        "resume",
        "sent_difficulty",
        "subscribed",
        "vardiff",
        "version_mask",
        "workers",
    )

    def __init__(
        self,
        extranonce1: bytes,
        jobs: JobBook,
        limits: Limits,
        puid_of: Callable[[str], int | None],
        ip: str = "",
        resume: Callable[[str], Session | None] | None = None,
    ) -> None:
        self.extranonce1 = extranonce1
        self.jobs = jobs
        self.limits = limits
        self.puid_of = puid_of
        self.ip = ip
        self.resume = resume
        self.subscribed = False
        self.agent = ""  # mining.subscribe's first parameter: the miner's software
        self.version_mask = 0
        self.difficulty = limits.start_diff  # for the next job sent
        self.sent_difficulty: Fraction | None = None
        self.workers: dict[str, Worker] = {}
        self.vardiff: Vardiff | None = None
        self.last_seen = 0.0  # the server's clock at the last request (for the idle timeout)
        self._sent: OrderedDict[str, Sent] = OrderedDict()  # by job id, the newest last
        self._newest_id = 0  # the largest ``id_number`` sent on this session

    # -- jobs ---------------------------------------------------------------------------------

    def job_lines(self, entry: Entry) -> list[bytes]:
        """``mining.set_difficulty`` (when it changed) before the ``mining.notify`` it
        applies to. The entry goes under its own id the first time this session gets it;
        again at the same difficulty, as it was last sent; at another difficulty, as a
        variant under a new id (an id already sent keeps the difficulty it was sent with)."""
        lines = []
        if self.difficulty != self.sent_difficulty:
            lines.append(protocol.notify("mining.set_difficulty", [float(self.difficulty)]))
            self.sent_difficulty = self.difficulty
        if id_number(entry.job.job_id) > self._newest_id:  # ids grow: never sent here
            sent = Sent(entry, entry.job, self.difficulty, entry.shares)
        else:
            last = next((x for x in reversed(self._sent.values()) if x.entry is entry), None)
            if last is not None and last.diff == self.difficulty:
                sent = last
            else:  # sent before at another difficulty (or forgotten: it may have been)
                job = variant(entry.job, self.jobs.next_id())
                sent = Sent(entry, job, self.difficulty, JobShares())
        self._remember(sent)
        lines.append(sent.notify_line)
        return lines

    def _remember(self, sent: Sent) -> None:
        job_id = sent.job.job_id
        self._sent.pop(job_id, None)
        self._sent[job_id] = sent  # the newest last
        self._newest_id = max(self._newest_id, id_number(job_id))
        while len(self._sent) > REMEMBERED_JOBS:
            self._sent.popitem(last=False)

    def tick(self, now: float) -> None:
        """Before a job broadcast: a difficulty vardiff finds due without a share (a miner
        sending none at all, or too few to close a window) goes out with that job."""
        if self.vardiff is not None and self.workers:
            new = self.vardiff.due(now, self.difficulty)
            if new is not None:
                self.difficulty = self.limits.clamp(new)

    def _resend_current(self, out: Outcome) -> None:
        """The current job at the session's difficulty: after a subscribe (a resumed session
        too) or a new difficulty, when it is a new job id of this connection's own."""
        if self.subscribed and self.jobs.current is not None:
            out.lines += self.job_lines(self.jobs.current)

    def _take_over(self, earlier: Session) -> None:
        """Continue a closed connection's session: its extranonce1, difficulty and jobs,
        each job at the difficulty it was sent with."""
        self.extranonce1 = earlier.extranonce1
        self.difficulty = earlier.difficulty
        self.vardiff = earlier.vardiff
        self._sent = earlier._sent
        self._newest_id = earlier._newest_id

    # -- requests -----------------------------------------------------------------------------

    def handle(self, req: protocol.Request, now: float) -> Outcome:
        method = _METHODS.get(req.method)
        if method is None:
            return Outcome(
                [protocol.error(req.id, Code.OTHER, f"unknown method {req.method!r}")], bad=True
            )
        try:
            return method(self, req, now)
        except ShareError as exc:
            return Outcome([protocol.error(req.id, exc.code, exc.message)], bad=True, code=exc.code)

    def _subscribe(self, req: protocol.Request, now: float) -> Outcome:
        earlier_id = req.params[1] if len(req.params) > 1 else None
        if not self.subscribed and self.resume is not None and isinstance(earlier_id, str):
            earlier = self.resume(earlier_id.lower())
            if earlier is not None:
                self._take_over(earlier)
        self.subscribed = True
        if req.params and isinstance(req.params[0], str):
            self.agent = agent_text(req.params[0])  # within what ingest takes of an agent
        if self.vardiff is None and self.limits.share_interval_s > 0:
            self.vardiff = Vardiff(self.limits.share_interval_s, now)
        sid = self.extranonce1.hex()
        out = Outcome(
            [
                protocol.result(
                    req.id,
                    [
                        [["mining.set_difficulty", sid], ["mining.notify", sid]],
                        sid,
                        EXTRANONCE2_SIZE,
                    ],
                )
            ]
        )
        self._resend_current(out)
        return out

    def _authorize(self, req: protocol.Request, now: float) -> Outcome:
        login = _text(req.params, 0, "login")
        password = req.params[1] if len(req.params) > 1 and isinstance(req.params[1], str) else ""
        user, _, worker = login.partition(".")
        puid = self.puid_of(user)
        if puid is None:
            raise ShareError(Code.UNAUTHORIZED, f"unknown user {user!r}")
        self.workers[login] = Worker(puid, worker or "default")
        out = Outcome([protocol.result(req.id, True)])
        asked = _DIFF_PASSWORD.search(password)
        if asked:
            self._set_difficulty(Fraction(asked.group(1)), out)
        return out

    def _set_difficulty(self, diff: Fraction, out: Outcome) -> None:
        if diff <= 0:
            return
        wanted = self.limits.clamp(diff)
        if wanted != self.difficulty:
            self.difficulty = wanted
            self._resend_current(out)

    def _suggest_difficulty(self, req: protocol.Request, now: float) -> Outcome:
        value = req.params[0] if req.params else None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 < value < math.inf
        ):
            raise ShareError(Code.OTHER, "suggest_difficulty: a positive number is needed")
        out = Outcome([protocol.result(req.id, True)])
        self._set_difficulty(Fraction(str(value)), out)
        return out

    def _configure(self, req: protocol.Request, now: float) -> Outcome:
        extensions = req.params[0] if req.params and isinstance(req.params[0], list) else []
        options = req.params[1] if len(req.params) > 1 and isinstance(req.params[1], dict) else {}
        answer: dict[str, Any] = {}
        for name in extensions:
            if name == "version-rolling":
                asked = options.get("version-rolling.mask", "ffffffff")
                mask = int(asked, 16) if isinstance(asked, str) and _HEX.fullmatch(asked) else 0
                self.version_mask = mask & VERSION_ROLLING_MASK
                answer["version-rolling"] = True
                answer["version-rolling.mask"] = f"{self.version_mask:08x}"
            elif isinstance(name, str):
                answer[name] = False
        return Outcome([protocol.result(req.id, answer)])

    def _extranonce_subscribe(self, req: protocol.Request, now: float) -> Outcome:
        return Outcome([protocol.result(req.id, True)])  # the extranonce never changes here

    def _submit(self, req: protocol.Request, now: float) -> Outcome:
        if not self.subscribed:
            raise ShareError(Code.NOT_SUBSCRIBED, "not subscribed")
        login = _text(req.params, 0, "login")
        worker = self.workers.get(login)
        if worker is None:
            raise ShareError(Code.UNAUTHORIZED, "unauthorized worker")
        job_id = _text(req.params, 1, "job_id")
        sent = self._sent.get(job_id)
        if sent is None or not self.jobs.live(sent.entry):
            return self._refused(req, worker, now, self.difficulty, Code.STALE, "job not found")
        diff = sent.diff
        sub = Submission(
            extranonce2=bytes.fromhex(_hex(req.params, 2, "extranonce2", EXTRANONCE2_SIZE * 2)),
            ntime=int(_hex(req.params, 3, "ntime", 8), 16),
            nonce=int(_hex(req.params, 4, "nonce", 8), 16),
            version_bits=int(_hex(req.params, 5, "version_bits", 8), 16)
            if len(req.params) > 5
            else 0,
        )
        try:
            checked = check(sent.job, self.extranonce1, EXTRANONCE2_SIZE, sub, target_of(diff),
                            self.version_mask, int(now), sent.shares)  # fmt: skip
        except ShareError as exc:
            return self._refused(req, worker, now, diff, exc.code, exc.message)
        found = Found(checked, sent.job, worker, now) if checked.is_block else None
        out = Outcome(
            [protocol.result(req.id, True)],
            [self._event(worker, now, diff, "accept", "")],
            found=found,
        )
        if self.vardiff is not None:
            new = self.vardiff.on_share(diff, now, self.difficulty)
            if new is not None:
                self._set_difficulty(new, out)
        return out

    def _refused(
        self,
        req: protocol.Request,
        worker: Worker,
        now: float,
        diff: Fraction,
        code: Code,
        why: str,
    ) -> Outcome:
        status = "stale" if code is Code.STALE else "reject"
        event = self._event(worker, now, diff, status, why)
        return Outcome(
            [protocol.error(req.id, code, why)], [event], bad=code is not Code.STALE, code=code
        )

    def _event(
        self, worker: Worker, now: float, diff: Fraction, status: str, reason: str
    ) -> ShareEvent:
        """The share as ingest takes it: the same type the HTTP producers' NDJSON decodes to."""
        return ShareEvent(
            ts=now,
            puid=worker.puid,
            worker=worker.name,
            diff=float(diff),
            status=status,
            reason=reason or None,
            ip=self.ip or None,
            agent=self.agent or None,
        )


def _text(params: list[Any], i: int, name: str) -> str:
    value = params[i] if len(params) > i else None
    if not isinstance(value, str):
        raise ShareError(Code.OTHER, f"{name}: a string is needed at position {i}")
    return value


def _hex(params: list[Any], i: int, name: str, digits: int) -> str:
    text = _text(params, i, name)
    if len(text) != digits or not _HEX.fullmatch(text):
        raise ShareError(Code.OTHER, f"{name}: {digits} hexadecimal digits are needed")
    return text


_METHODS: dict[str, Callable[[Session, protocol.Request, float], Outcome]] = {
    "mining.subscribe": Session._subscribe,
    "mining.authorize": Session._authorize,
    "mining.configure": Session._configure,
    "mining.suggest_difficulty": Session._suggest_difficulty,
    "mining.extranonce.subscribe": Session._extranonce_subscribe,
    "mining.submit": Session._submit,
}
