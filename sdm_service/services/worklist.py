"""The clinician worklist: responses in the order clinicians need them, filtered and paginated.

Order: upcoming consults first (consult date today or later, soonest first), then responses with
no consult date (newest first), then past consults (most recent first). Each of the three parts is
read with its own query that walks the `ix_responses_consult` index (consult_date, created_at),
so a page costs a short index range scan rather than a sort of every matching row. List rows leave
out the answers and the summary JSON (about 16 KB a row), which the list does not show.

No query counts every match: at a million responses an exact count reads a million index entries
on every view, and the count alone set the page's time. The pager counts at most COUNT_LIMIT
matches ("more than 10,000" beyond, paged up to there; the filters narrow the list further), and a
later page counts each part only up to where the page starts, so a view's work is bounded by the
page it shows, not by the size of the table.

A search (name or identifier) matches few rows, scattered through that index, so walking it would
look at nearly every row three times. When the matches are few, their sort keys are read in one
pass instead, ordered here, and only the page's rows are fetched.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute, defer
from sqlmodel import col

from sdm_service.models import PatientResponse, ResponseStatus

PAGE_SIZE = 25
MAX_QUERY_LENGTH = 100
SORT_MATCHES_LIMIT = 1000  # a search with at most this many matches is ordered from its sort keys
COUNT_LIMIT = 10_000  # the pager counts at most this many matches (400 pages)


# The list shows neither; raiseload turns an accidental use into an error instead of a query per row.
LIST_ROW_OPTIONS = (
    defer(cast("QueryableAttribute[Any]", PatientResponse.answers), raiseload=True),
    defer(cast("QueryableAttribute[Any]", PatientResponse.summary), raiseload=True),
)


class WorklistError(ValueError):
    """A filter value that cannot be used; the message is safe to show."""


@dataclass(frozen=True)
class WorklistFilters:
    statuses: tuple[str, ...] = ()  # empty means every status
    flagged_only: bool = False
    consult_from: date | None = None
    consult_to: date | None = None
    query: str = ""  # patient identifier (starts with) or name (contains), case-insensitive
    page: int = 1

    def __post_init__(self) -> None:
        unknown = [s for s in self.statuses if s not in ResponseStatus.ALL]
        if unknown:
            raise WorklistError("Choose a status from the list.")
        if self.consult_from and self.consult_to and self.consult_from > self.consult_to:
            raise WorklistError("The 'from' date must be on or before the 'to' date.")
        if len(self.query) > MAX_QUERY_LENGTH:
            raise WorklistError(f"Search for {MAX_QUERY_LENGTH} characters or fewer.")
        if any(ord(ch) < 32 for ch in self.query):
            raise WorklistError("The search contains characters that cannot be used.")
        if self.page < 1:
            raise WorklistError("The page number must be 1 or more.")

    def as_detail(self) -> dict[str, Any]:
        """The filters, for the audit log."""
        return {
            "statuses": list(self.statuses),
            "flagged_only": self.flagged_only,
            "consult_from": self.consult_from.isoformat() if self.consult_from else None,
            "consult_to": self.consult_to.isoformat() if self.consult_to else None,
            "query": self.query,
            "page": self.page,
        }


@dataclass(frozen=True)
class WorklistPage:
    rows: Sequence[PatientResponse]
    total: int
    page: int
    page_size: int
    filters: WorklistFilters = field(default_factory=WorklistFilters)
    more: bool = False  # more than `total` match: counting stopped at COUNT_LIMIT

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.page_size + 1 if self.rows else 0

    @property
    def last_index(self) -> int:
        return (self.page - 1) * self.page_size + len(self.rows)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(filters: WorklistFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.statuses:
        conditions.append(col(PatientResponse.status).in_(filters.statuses))
    if filters.flagged_only:
        conditions.append(col(PatientResponse.conflict_flag).is_(True))
    if filters.consult_from:
        conditions.append(col(PatientResponse.consult_date) >= filters.consult_from)
    if filters.consult_to:
        conditions.append(col(PatientResponse.consult_date) <= filters.consult_to)
    text = filters.query.strip()
    if text:
        pattern = _escape_like(text.lower())
        conditions.append(
            or_(
                col(PatientResponse.patient_value) == text,
                func.lower(col(PatientResponse.patient_value)).like(f"{pattern}%", escape="\\"),
                func.lower(col(PatientResponse.patient_name)).like(f"%{pattern}%", escape="\\"),
            )
        )
    return conditions


def _segments(today: date) -> list[tuple[ColumnElement[bool], tuple[Any, ...]]]:
    """(condition, order) for upcoming, undated and past consults, in display order."""
    consult = col(PatientResponse.consult_date)
    created = col(PatientResponse.created_at)
    ident = col(PatientResponse.id)
    return [
        (consult >= today, (consult.asc(), created.asc(), ident.asc())),
        (consult.is_(None), (created.desc(), ident.desc())),
        (consult < today, (consult.desc(), created.desc(), ident.desc())),
    ]


def _segment_queries(
    conditions: list[ColumnElement[bool]], today: date
) -> list[tuple[list[ColumnElement[bool]], Select[tuple[PatientResponse]]]]:
    """Each part's conditions and its ordered query, in display order."""
    parts = []
    for condition, order in _segments(today):
        where = [condition, *conditions]
        parts.append((where, select(PatientResponse).where(*where).order_by(*order)))
    return parts


def segment_statements(filters: WorklistFilters, today: date) -> list[Select[tuple[PatientResponse]]]:
    """The three ordered queries (upcoming, undated, past), without paging; used for EXPLAIN in tests."""
    return [statement for _where, statement in _segment_queries(_conditions(filters), today)]


async def worklist_page(
    session: AsyncSession, filters: WorklistFilters, *, today: date, page_size: int = PAGE_SIZE
) -> WorklistPage:
    conditions = _conditions(filters)
    if filters.query.strip():
        keys = await _match_keys(session, conditions, today)
        if keys is not None:
            return await _page_from_keys(session, filters, keys, page_size)

    matched = await _count_upto(session, conditions, COUNT_LIMIT + 1)
    total = min(matched, COUNT_LIMIT)
    page = min(filters.page, max(1, math.ceil(total / page_size)))
    skip = (page - 1) * page_size
    wanted = min(page_size, total - skip)  # the pages list the first `total` matches, no more
    rows: list[PatientResponse] = []
    for where, statement in _segment_queries(conditions, today):
        if len(rows) >= wanted:
            break
        if skip:
            before = await _count_upto(session, where, skip)
            if before < skip:  # this whole part comes before the page
                skip -= before
                continue
        paged = statement.options(*LIST_ROW_OPTIONS).offset(skip).limit(wanted - len(rows))
        result = await session.execute(paged)
        rows.extend(result.scalars().all())
        skip = 0
    return WorklistPage(
        rows=rows,
        total=total,
        page=page,
        page_size=page_size,
        filters=replace(filters, page=page),
        more=matched > COUNT_LIMIT,
    )


async def _count_upto(session: AsyncSession, conditions: Sequence[ColumnElement[bool]], limit: int) -> int:
    """How many rows match, counting no further than `limit` (a scan that stops there)."""
    matches = select(literal(1)).select_from(PatientResponse).where(*conditions).limit(limit).subquery()
    return int(await session.scalar(select(func.count()).select_from(matches)) or 0)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _order_key(consult: date | None, created: datetime, ident: uuid.UUID, today: date) -> tuple[int, ...]:
    """The display order of _segments(), as a sort key (uuid order = the databases' uuid order)."""
    stamp = (created - _EPOCH) // timedelta(microseconds=1)
    if consult is None:
        return (1, 0, -stamp, -ident.int)
    if consult >= today:
        return (0, consult.toordinal(), stamp, ident.int)
    return (2, -consult.toordinal(), -stamp, -ident.int)


async def _match_keys(
    session: AsyncSession, conditions: list[ColumnElement[bool]], today: date
) -> list[uuid.UUID] | None:
    """Ids of every match in display order, from one pass; None when there are too many to sort here."""
    result = await session.execute(
        select(col(PatientResponse.id), col(PatientResponse.consult_date), col(PatientResponse.created_at))
        .where(*conditions)
        .limit(SORT_MATCHES_LIMIT + 1)
    )
    keys = result.all()
    if len(keys) > SORT_MATCHES_LIMIT:
        return None
    return [k[0] for k in sorted(keys, key=lambda k: _order_key(k[1], k[2], k[0], today))]


async def _page_from_keys(
    session: AsyncSession, filters: WorklistFilters, ordered_ids: list[uuid.UUID], page_size: int
) -> WorklistPage:
    total = len(ordered_ids)
    page = min(filters.page, max(1, math.ceil(total / page_size)))
    wanted = ordered_ids[(page - 1) * page_size : page * page_size]
    found: dict[uuid.UUID, PatientResponse] = {}
    if wanted:
        result = await session.execute(
            select(PatientResponse).options(*LIST_ROW_OPTIONS).where(col(PatientResponse.id).in_(wanted))
        )
        found = {row.id: row for row in result.scalars()}
    rows = [found[i] for i in wanted if i in found]
    return WorklistPage(
        rows=rows, total=total, page=page, page_size=page_size, filters=replace(filters, page=page)
    )
