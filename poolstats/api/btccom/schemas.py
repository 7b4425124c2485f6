"""What BTC.COM's API takes and answers, field for field (see docs/api.md for the choices).

Parameter Structs validate requests and document them in OpenAPI; answer Structs are what the
renderers build and what the OpenAPI response schemas are made from. Figures that BTC.COM sent
as strings stay strings here.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Page = Annotated[int, msgspec.Meta(ge=1, le=1_000_000, description="Page number, from 1.")]
PageSize = Annotated[int, msgspec.Meta(ge=1, le=1000, description="Items a page, 1-1000.")]
Count = Annotated[int, msgspec.Meta(ge=1, le=1000, description="Points wanted, 1-1000.")]
StartTs = Annotated[
    int,
    msgspec.Meta(
        ge=-1_000_000_000,  # some 31 years back: relative starts stay after 1970
        le=2**40,
        description="Unix seconds of the first point; negative: that many seconds before now.",
    ),
]
GroupName = Annotated[str, msgspec.Meta(min_length=1, max_length=20)]

OrderBy = Literal[
    "worker_id",
    "worker_name",
    "shares_1m",
    "shares_5m",
    "shares_15m",
    "shares_1h",  # poolstats' own: BTC.COM sorted by its other windows only
    "shares_1d",
    "accept_count",
    "reject_percent",
    "last_share_time",
    # poolstats' own, for a dashboard that sorts by every column:
    "status",  # by the last accepted share: descending is ACTIVE, INACTIVE, DEAD
    "group",  # by group id: a group's workers together
    "last_share_ip",
]


# --- parameters -----------------------------------------------------------------------------


class PageParams(msgspec.Struct):
    page: Page = 1
    page_size: PageSize = 10


class EarnHistoryParams(msgspec.Struct):
    page: Page = 1
    page_size: Annotated[int, msgspec.Meta(ge=1, le=50, description="Days a page, 1-50.")] = 10


class WorkerListParams(msgspec.Struct):
    status: Literal["active", "inactive", "dead", "all"] = "all"
    group: (
        Annotated[
            int,
            msgspec.Meta(
                ge=-1,
                le=2**62,
                description="A gid, -1 for DEFAULT; left out, empty or 0: every group.",
            ),
        ]
        | None
    ) = None
    page: Page = 1
    page_size: PageSize = 10
    filter: Annotated[str, msgspec.Meta(max_length=128)] = ""
    order_by: OrderBy = "worker_id"
    asc: Literal[0, 1] = 0


class HistoryParams(msgspec.Struct):
    # "5m": poolstats' own, for charts of the last hour; kept for sub-accounts and the pool
    dimension: Literal["5m", "1h", "1d"]
    start_ts: StartTs
    count: Count
    real_point: bool = False


class WorkerUpdateParams(msgspec.Struct):
    worker_id: Annotated[
        str, msgspec.Meta(min_length=1, max_length=20_000, description="Ids: 1,2,3")
    ]
    group_id: Annotated[int, msgspec.Meta(ge=-1, le=2**62)]


class GroupCreateParams(msgspec.Struct):
    group_name: GroupName


class GroupRenameParams(msgspec.Struct):
    """BTC.COM's document names the field ``name``; ``group_name``, as ``create`` calls it,
    is taken too (``name`` wins when both are sent)."""

    name: GroupName | None = None
    group_name: GroupName | None = None


class PayLimitParams(msgspec.Struct):
    amount: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=32,
            description="Minimum payout in BTC as a decimal, e.g. 0.005 (0.001 to 21000000, "
            "at most 8 decimal places).",
        ),
    ]


# --- answers --------------------------------------------------------------------------------


class ListPage(msgspec.Struct):
    page: int
    page_size: int
    page_count: int
    total_count: int


class GroupItem(msgspec.Struct):
    gid: int
    sort_id: str
    name: str
    created_at: int
    updated_at: int
    workers_active: int
    workers_inactive: int
    workers_dead: int
    workers_total: int
    shares_1m: str
    shares_5m: str
    shares_15m: str
    shares_1h: str
    shares_unit: str
    shares_1d: str
    shares_1d_unit: str
    shares_1m_pure: str
    shares_5m_pure: str
    shares_15m_pure: str
    shares_1h_pure: int
    shares_1d_pure: int


class GroupBrief(msgspec.Struct):
    """One item of ``/v1/groups/simple``. DEFAULT's gid is the string "-1" and the others
    are numbers, exactly as BTC.COM's document shows them."""

    gid: str | int
    name: str


class GroupList(ListPage, rename={"items": "list"}):
    items: list[GroupItem]  # "list" in JSON


class WorkerStats(msgspec.Struct):
    shares_1m: str
    shares_5m: str
    shares_15m: str
    shares_1h: str
    shares_unit: str
    workers_active: int
    workers_inactive: int
    workers_dead: int
    workers_total: int
    shares_1m_pure: str
    shares_5m_pure: str
    shares_15m_pure: str
    shares_1h_pure: int
    shares_1d_pure: int


class Size(msgspec.Struct):
    size: float
    unit: str


class SizeText(msgspec.Struct):
    size: str
    unit: str


class WorkerFullStats(msgspec.Struct):
    """``/v1/worker/full-stats``: ``/v1/worker/stats`` with the 1-day and 1-hour figures as
    ``{"size", "unit"}`` objects, ``size`` a number for 1d and a string for 1h, as in
    BTC.COM's document."""

    workers_active: int
    workers_inactive: int
    workers_dead: int
    shares_1m: str
    shares_5m: str
    shares_15m: str
    workers_total: int
    shares_unit: str
    shares_1d: Size
    shares_1h: SizeText


class ShareHistory(msgspec.Struct):
    shares_unit: str
    tickers: list[list[str | None]]


class WorkerItem(msgspec.Struct):
    gid: str
    group_name: str
    worker_id: str
    worker_name: str
    shares_1m: str
    shares_5m: str
    shares_15m: str
    shares_1h: str
    shares_unit: str
    accept_count: str
    last_share_time: str
    last_share_ip: str
    reject_percent: str
    shares_1d: str
    shares_1d_unit: str
    status: str
    shares_1m_pure: str
    shares_5m_pure: str
    shares_15m_pure: str
    shares_1h_pure: int
    shares_1d_pure: int
    reject_percent_1d: str
    first_share_time: int  # unix seconds of the worker's first share; 0: unknown
    miner_agent: str  # the mining software, as stratum's mining.subscribe named it; "": none


class WorkerList(ListPage):
    data: list[WorkerItem]


class WorkerDetail(msgspec.Struct):
    worker_id: int
    worker_name: str
    shares_1m: str
    shares_5m: str
    shares_15m: str
    shares_1h: str
    shares_unit: str
    shares_1d: str
    shares_1d_unit: str
    accept_count: str
    accept_percent: float
    reject_percent: str
    last_share_ip: str
    ip2location: str
    last_share_time: int
    worker_status: str
    shares_1m_pure: str
    shares_5m_pure: str
    shares_15m_pure: str
    shares_1h_pure: int
    shares_1d_pure: int
    first_share_time: int  # as in WorkerItem
    miner_agent: str


class Status(msgspec.Struct):
    status: bool


class PoolShares(msgspec.Struct):
    shares_1m: float
    shares_5m: float
    shares_15m: float
    shares_unit: str


class PoolReject(msgspec.Struct, rename={"r1m": "1m", "r5m": "5m", "r15m": "15m"}):
    """Rejected fraction of the work (stale included) by window."""

    r1m: float
    r5m: float
    r15m: float


Difficulty = Annotated[float, msgspec.Meta(ge=0, le=1e30)]  # finite, never negative
Tally = Annotated[int, msgspec.Meta(ge=0, le=2**40)]


class WindowDifficulty(msgspec.Struct, rename={"w1m": "1m", "w5m": "5m", "w15m": "15m"}):
    w1m: Difficulty
    w5m: Difficulty
    w15m: Difficulty


class NodeSums(msgspec.Struct):
    """poolstats' own addition (``?sums=1``), for merging nodes exactly: share difficulty
    sums by window rather than rounded hashrates and fractions."""

    node: Annotated[str, msgspec.Meta(max_length=256)]
    accept: WindowDifficulty
    rejected: WindowDifficulty  # rejected and stale shares
    workers: Tally
    users: Tally


class PoolStats(msgspec.Struct, omit_defaults=True):
    shares: PoolShares
    reject: PoolReject
    workers: int
    users: int
    sums: NodeSums | None = None  # only when asked for with sums=1


class NodeAnswer(msgspec.Struct):
    name: str
    ok: bool


class MergedPoolStats(msgspec.Struct):
    shares: PoolShares
    reject: PoolReject
    workers: int
    users: int
    nodes: list[NodeAnswer]


class PoolParams(msgspec.Struct):
    sums: bool = False


class Phone(msgspec.Struct):
    country: str
    number: str


class Contact(msgspec.Struct):
    mail: str
    phone: Phone


class AlertSettings(msgspec.Struct):
    hashrate_max: str
    hashrate_value: str
    hashrate_unit: str
    hashrate_alert: int
    miner_max: str
    miner_value: str
    miner_alert: int
    alert_interval: int


class AccountInfo(msgspec.Struct):
    user_id: int
    user_name: str
    address: str
    nmc_address: str
    rebates_address: str
    region: str
    contact: Contact
    alert: AlertSettings
    # poolstats' own: the payout threshold in BTC, as /v1/account/pay/limit takes it
    pay_limit: str


class EarnStats(msgspec.Struct):
    total_paid: str
    pending_payouts: str
    last_payment_time: str
    earnings_today: str
    earnings_yesterday: str
    unpaid: str


class EarnItem(msgspec.Struct):
    date: int
    earnings: int
    payment_time: str
    payment_tx: str
    address: str
    paid_amount: int
    diff: int
    payment_mode: str
    earnings_rate: float


class EarnHistory(msgspec.Struct, rename={"items": "list"}):
    page: str  # BTC.COM sent these two as strings
    page_size: str
    page_count: int
    total_count: int
    items: list[EarnItem]  # "list" in JSON


class RealtimeHashrate(msgspec.Struct):
    shares_15m: str
    shares_15m_unit: str
    shares_1d: str
    shares_1d_unit: str
    shares_1m_pure: str
    shares_5m_pure: str
    shares_15m_pure: str
    shares_1h_pure: int
    shares_1d_pure: int


# --- alerts (docs/alerts.md) ----------------------------------------------------------------

HashrateUnit = Literal["H", "K", "M", "G", "T", "P", "E", "Z"]  # domain.alerts.HASHRATE_UNITS
Flag = Literal[0, 1]
ContactId = Annotated[int, msgspec.Meta(ge=1, le=2**62, description="A contact's id.")]
Note = Annotated[str, msgspec.Meta(max_length=64, description="The contact's name.")]
Email = Annotated[str, msgspec.Meta(max_length=254, description="E-mail address ('' : none).")]
WebhookUrl = Annotated[
    str,
    msgspec.Meta(max_length=2048, description="http(s) URL that gets a JSON POST ('' : none)."),
]


class AlertSettingParams(msgspec.Struct):
    """Every field is optional: what is left out keeps its current value."""

    interval: (
        Annotated[int, msgspec.Meta(ge=2, le=24, description="Hours between reminders, 2-24.")]
        | None
    ) = None
    hashrate: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1,
                max_length=20,
                description="Hashrate threshold in `unit`, a non-negative decimal (e.g. 10.5).",
            ),
        ]
        | None
    ) = None
    unit: HashrateUnit | None = None
    hashrate_enabled: Flag | None = None
    miners: (
        Annotated[int, msgspec.Meta(ge=0, le=10**9, description="ACTIVE workers threshold.")] | None
    ) = None
    miners_enabled: Flag | None = None


class AlertLogParams(msgspec.Struct):
    page: Page = 1
    page_size: Annotated[int, msgspec.Meta(ge=1, le=1000, description="Entries, 1-1000.")] = 50


class AlertReadParams(msgspec.Struct):
    log_id: Annotated[int, msgspec.Meta(ge=1, le=2**62, description="An alert log entry's id.")]


class ContactCreateParams(msgspec.Struct):
    note: Note = ""
    email: Email = ""
    webhook_url: WebhookUrl = ""


class ContactUpdateParams(msgspec.Struct):
    """Fields left out keep their value; an empty email or webhook_url removes it."""

    id: ContactId
    note: Note | None = None
    email: Email | None = None
    webhook_url: WebhookUrl | None = None


class ContactDeleteParams(msgspec.Struct):
    id: ContactId


class AlertLogItem(msgspec.Struct):
    """One alert log entry, as BTC.COM's ``/alert/get`` listed them, plus ``event`` and
    ``message``."""

    id: int
    uid: int
    puid: int
    puid_name: str
    type: str  # hashrate | miners | delivery
    event: str  # fired | repeated | recovered | delivery_failed
    expect: str  # the threshold
    actual: str  # the measured value
    unit: str | None  # the hashrate unit; null for miners, as BTC.COM had it
    created_at: int
    is_read: int
    interval: int  # hours, when the entry was made
    now_interval: int  # hours, the current setting
    message: str


class AlertContactItem(msgspec.Struct):
    id: int
    uid: int
    puid: int
    note: str
    email: str | None
    webhook_url: str | None
    created_at: str  # "2017-01-10 18:03:12" (UTC), as BTC.COM wrote them
    updated_at: str
