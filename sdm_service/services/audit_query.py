"""Reading the audit log: filter and paginate, and check its hash chain. Read-only on purpose;
events are never changed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from sdm_service.audit import GENESIS_HASH, LIST_VIEW_ACTIONS, LISTED_KEY, event_digest
from sdm_service.models import AuditEvent

PAGE_SIZE = 50
VERIFY_BATCH = 1000
MAX_FILTER_LENGTH = 200


class AuditFilterError(ValueError):
    """A filter value that cannot be used; the message is safe to show."""


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    actor: str = ""  # username (label) or id of whoever acted
    entity_id: str = ""
    date_from: date | None = None  # inclusive, UTC
    date_to: date | None = None  # inclusive, UTC
    page: int = 1

    def __post_init__(self) -> None:
        for name, value in (("action", self.action), ("actor", self.actor), ("entity id", self.entity_id)):
            if len(value) > MAX_FILTER_LENGTH:
                raise AuditFilterError(f"The {name} filter must be {MAX_FILTER_LENGTH} characters or fewer.")
            if any(ord(ch) < 32 for ch in value):
                raise AuditFilterError(f"The {name} filter contains characters that cannot be used.")
        # The 'to' day is searched up to the start of the next day, which 9999-12-31 does not have.
        if self.date_to is not None and self.date_to >= date.max:
            raise AuditFilterError("The 'to' date must be 9999-12-30 or earlier.")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise AuditFilterError("The 'from' date must be on or before the 'to' date.")
        if self.page < 1:
            raise AuditFilterError("The page number must be 1 or more.")


@dataclass(frozen=True)
class AuditPage:
    events: Sequence[AuditEvent]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


def _listed(entity_id: str, dialect: str) -> ColumnElement[bool]:
    """A list view that showed this response (its id in the event's LISTED_KEY array); only list
    actions are looked at, so the action index keeps the search off the rest of the log."""
    if dialect == "postgresql":
        shown = type_coerce(col(AuditEvent.detail), JSONB).contains({LISTED_KEY: [entity_id]})
    else:
        ids = func.json_each(col(AuditEvent.detail), f"$.{LISTED_KEY}").table_valued("value")
        shown = select(ids.c.value).where(ids.c.value == entity_id).exists()
    return and_(col(AuditEvent.action).in_(LIST_VIEW_ACTIONS), shown)


def _conditions(filters: AuditFilters, dialect: str) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.action.strip():
        conditions.append(col(AuditEvent.action) == filters.action.strip())
    if filters.actor.strip():
        actor = filters.actor.strip()
        conditions.append(or_(col(AuditEvent.actor_label) == actor, col(AuditEvent.actor_id) == actor))
    if filters.entity_id.strip():
        entity_id = filters.entity_id.strip()
        conditions.append(or_(col(AuditEvent.entity_id) == entity_id, _listed(entity_id, dialect)))
    if filters.date_from:
        conditions.append(col(AuditEvent.occurred_at) >= datetime.combine(filters.date_from, time(), UTC))
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time(), UTC)
        conditions.append(col(AuditEvent.occurred_at) < end)
    return conditions


async def audit_page(
    session: AsyncSession, filters: AuditFilters, *, page_size: int = PAGE_SIZE
) -> AuditPage:
    """Newest first. The id is assigned in insertion order, so it orders events without a sort.
    Filtering by entity id also finds the list views (worklist, invitations) that showed it."""
    conditions = _conditions(filters, session.get_bind().dialect.name)
    total = int(
        (await session.execute(select(func.count(col(AuditEvent.id))).where(*conditions))).scalar_one()
    )
    pages = max(1, math.ceil(total / page_size))
    page = min(filters.page, pages)
    events = (
        (
            await session.execute(
                select(AuditEvent)
                .where(*conditions)
                .order_by(col(AuditEvent.id).desc())
                .offset((page - 1) * page_size)
                .limit(page_size)
            )
        )
        .scalars()
        .all()
    )
    return AuditPage(events=events, total=total, page=page, page_size=page_size)


async def known_actions(session: AsyncSession) -> list[str]:
    """Every action that has been recorded, for the filter's choice list (served by its index)."""
    return list(
        (await session.execute(select(col(AuditEvent.action)).distinct().order_by(col(AuditEvent.action))))
        .scalars()
        .all()
    )


@dataclass(frozen=True)
class BrokenLink:
    event_id: int
    occurred_at: datetime
    problem: str


@dataclass(frozen=True)
class ChainCheck:
    checked: int  # events checked, up to and including the first broken one
    broken: BrokenLink | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def _problem(event: AuditEvent, previous: AuditEvent | None) -> str:
    """What is wrong with this event's place in the chain, or "" when nothing is."""
    if event.event_hash != event_digest(event, event.prev_hash):
        return "its recorded fields do not match its hash: the event was changed after it was written"
    if previous is None and event.prev_hash != GENESIS_HASH:
        return "it is the oldest event but does not start the chain: earlier events were removed"
    if previous is not None and event.prev_hash != previous.event_hash:
        return (
            f"it does not link to the event before it (id {previous.id}): events between them were "
            f"removed or inserted, or event {previous.id} was rewritten"
        )
    return ""


async def verify_chain(session: AsyncSession, *, batch_size: int = VERIFY_BATCH) -> ChainCheck:
    """Walk every event oldest first and report the first one whose hash or link does not hold."""
    checked = 0
    previous: AuditEvent | None = None
    last_id = 0
    while True:
        batch = (
            (
                await session.execute(
                    select(AuditEvent)
                    .where(col(AuditEvent.id) > last_id)
                    .order_by(col(AuditEvent.id))
                    .limit(batch_size)
                )
            )
            .scalars()
            .all()
        )
        if not batch:
            return ChainCheck(checked=checked, broken=None)
        for event in batch:
            checked += 1
            problem = _problem(event, previous)
            if problem:
                return ChainCheck(
                    checked=checked,
                    broken=BrokenLink(event_id=event.id or 0, occurred_at=event.occurred_at, problem=problem),
                )
            previous = event
        last_id = batch[-1].id or 0
        session.expunge_all()  # keep memory flat on a long log
