"""Response queries shared by the JSON API and FHIR: search with filters, keyset pages and opaque
cursors; one response by id; the stored definition of a questionnaire version.

Pages are ordered by (updated_at, id) and continue strictly after the last row seen, so a row
inserted or changed while a client pages never shifts what is still to come (it appears at the
end instead). The cursor is that last (updated_at, id) as text: microseconds since 1970 (UTC), a dot,
the id in hex. Every text of that form (CURSOR_PATTERN, which the OpenAPI schema states) is a
position to continue after, so any such cursor is accepted; clients should still treat it as opaque.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from sqlmodel import col

from sdm_service.models import PatientResponse

MAX_PAGE_SIZE = 100
# At most 17 digits keeps every cursor inside the calendar (10**17 microseconds is year 5138).
CURSOR_PATTERN = r"^[0-9]{1,17}\.[0-9a-f]{32}$"
_CURSOR = re.compile(CURSOR_PATTERN.removeprefix("^").removesuffix("$"))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SearchError(ValueError):
    """A filter or cursor that cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class Cursor:
    updated_at: datetime
    id: uuid.UUID


def encode_cursor(cursor: Cursor) -> str:
    micros = (cursor.updated_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{cursor.id.hex}"


def decode_cursor(text: str) -> Cursor:
    if not _CURSOR.fullmatch(text):
        raise SearchError("The cursor is not valid; use the exact value from the previous page.")
    micros, identifier = text.split(".")
    return Cursor(updated_at=_EPOCH + timedelta(microseconds=int(micros)), id=uuid.UUID(hex=identifier))


# What parse_identifier accepts, for the OpenAPI schema: no control characters, at most one "|", and
# something other than spaces on one side of it. Outer spaces are stripped (Python's \s is str.isspace).
_PART, _SOLID = r"[^\x00-\x1f|]*", r"[^\s\x00-\x1f|]"
IDENTIFIER_PATTERN = rf"^\s*({_PART}{_SOLID}{_PART}(\|{_PART})?|{_PART}\|{_PART}{_SOLID}{_PART})\s*$"


def parse_identifier(text: str) -> tuple[str | None, str | None]:
    """FHIR token form: 'system|value', '|value' (no system), 'value' (any system), 'system|' (any value)."""
    text = text.strip()
    if not text or len(text) > 320:
        raise SearchError("Give the patient identifier as system|value (or just value).")
    # No stored identifier has control characters, and PostgreSQL refuses NUL in text outright.
    if any(ord(ch) < 32 for ch in text):
        raise SearchError("The patient identifier contains control characters; use printable text only.")
    if "|" not in text:
        return None, text
    system, _, value = text.partition("|")
    if "|" in value:
        raise SearchError("The patient identifier has more than one '|'; use system|value.")
    if not value and not system:
        raise SearchError("Give the patient identifier as system|value (or just value).")
    return system, value or None


def as_utc(moment: datetime) -> datetime:
    """Query times without a zone are taken as UTC, the zone everything is stored in.

    A time whose UTC equivalent falls outside years 1-9999 raises SearchError (a ValueError).
    """
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise SearchError(
            "The time is out of range: give a time between the years 1 and 9999 in UTC."
        ) from None


@dataclass(frozen=True)
class ResponseFilter:
    patient_system: str | None = None
    patient_value: str | None = None
    statuses: tuple[str, ...] | None = None  # ours; an empty tuple matches nothing
    ids: tuple[uuid.UUID, ...] | None = None
    # (operator, instant) pairs on updated_at, operator one of ge gt le lt eq
    updated: tuple[tuple[str, datetime], ...] = field(default_factory=tuple)
    with_summary: bool = False


_COMPARE = {
    "ge": lambda column, moment: column >= moment,
    "gt": lambda column, moment: column > moment,
    "le": lambda column, moment: column <= moment,
    "lt": lambda column, moment: column < moment,
    "eq": lambda column, moment: column == moment,
}


class CommonFilter(Protocol):
    """What the response and the Task searches both filter on."""

    @property
    def patient_system(self) -> str | None: ...
    @property
    def patient_value(self) -> str | None: ...
    @property
    def statuses(self) -> tuple[str, ...] | None: ...
    @property
    def ids(self) -> tuple[uuid.UUID, ...] | None: ...
    @property
    def updated(self) -> tuple[tuple[str, datetime], ...]: ...


def filter_common(
    statement: Select[Any], where: CommonFilter, *, status: Any, id_: Any, updated_at: Any
) -> Select[Any]:
    """`where`'s patient (on PatientResponse), status, id and _lastUpdated conditions, on the searched
    table's `status`, `id_` and `updated_at` columns. An empty tuple of statuses or ids matches nothing."""
    if where.patient_system is not None:
        statement = statement.where(col(PatientResponse.patient_system) == where.patient_system)
    if where.patient_value is not None:
        statement = statement.where(col(PatientResponse.patient_value) == where.patient_value)
    if where.statuses is not None:
        statement = statement.where(status.in_(where.statuses or ("-none-",)))
    if where.ids is not None:
        statement = statement.where(id_.in_(where.ids or (uuid.UUID(int=0),)))
    for operator, moment in where.updated:
        statement = statement.where(_COMPARE[operator](updated_at, as_utc(moment)))
    return statement


def _filtered(statement: Select[Any], where: ResponseFilter) -> Select[Any]:
    statement = filter_common(
        statement,
        where,
        status=col(PatientResponse.status),
        id_=col(PatientResponse.id),
        updated_at=col(PatientResponse.updated_at),
    )
    if where.with_summary:
        statement = statement.where(col(PatientResponse.completed_at).is_not(None))
    return statement


@dataclass(frozen=True)
class Page:
    rows: list[PatientResponse]
    next_cursor: str | None
    total: int | None = None


async def search_responses(
    session: AsyncSession,
    where: ResponseFilter,
    *,
    limit: int,
    after: Cursor | None = None,
    with_total: bool = False,
) -> Page:
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    statement = _filtered(select(PatientResponse), where)
    if after is not None:
        updated = col(PatientResponse.updated_at)
        statement = statement.where(
            or_(
                updated > after.updated_at,
                and_(updated == after.updated_at, col(PatientResponse.id) > after.id),
            )
        )
    statement = statement.order_by(col(PatientResponse.updated_at), col(PatientResponse.id)).limit(limit + 1)
    rows = list((await session.execute(statement)).scalars())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(Cursor(updated_at=as_utc(last.updated_at), id=last.id))
    total = None
    if with_total:
        total = (
            await session.execute(_filtered(select(func.count()).select_from(PatientResponse), where))
        ).scalar_one()
    return Page(rows=rows, next_cursor=next_cursor, total=total)


async def get_response(
    session: AsyncSession, response_id: uuid.UUID, *, with_summary: bool
) -> PatientResponse | None:
    """One response by id. The summary snapshot is the largest column (about 16 KB of JSON): without
    `with_summary` it is not loaded (and reading it raises instead of costing a query)."""
    statement = _BY_ID_WITH_SUMMARY if with_summary else _BY_ID
    return (await session.execute(statement, {"response_id": response_id})).scalar_one_or_none()


# Built once (see services/api_clients._BY_TOKEN_HASH); a select, not session.get(), whose options
# were built and looked up again at every call.
_BY_ID_WITH_SUMMARY = select(PatientResponse).where(col(PatientResponse.id) == bindparam("response_id"))
_BY_ID = _BY_ID_WITH_SUMMARY.options(defer(PatientResponse.summary, raiseload=True))  # type: ignore[arg-type]
