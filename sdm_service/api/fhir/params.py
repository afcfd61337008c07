"""Pure FHIR request parsing: content negotiation, strict parameter handling and search values.

Nothing here touches the request object or the database: the handlers pass the raw query items and
headers in, and get back what the search service understands (or a FhirError saying what is wrong).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sdm_service.api.fhir.errors import FhirError
from sdm_service.fhirmap.capability import SEARCH_PARAMETERS
from sdm_service.fhirmap.common import FHIR_STATUS_TO_OURS
from sdm_service.fhirmap.document import PDF
from sdm_service.services.search import MAX_PAGE_SIZE, Cursor, ResponseFilter, SearchError, decode_cursor
from sdm_service.services.search import parse_identifier as parse_subject

DEFAULT_COUNT = 20
JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json", "application/json+fhir"})
# Parameters every interaction accepts besides its own search parameters.
COMMON_PARAMETERS = frozenset({"_format"})
PAGING_PARAMETER = "_cursor"
# Date parameters may be given twice to make a range (ge... and lt...).
REPEATABLE_PARAMETERS = frozenset({"_lastUpdated", "date"})

QueryItems = Iterable[tuple[str, str]]


def check_format(format_: str | None, accept: str) -> None:
    if format_ is not None and format_.strip().lower() not in JSON_FORMATS:
        raise FhirError(
            406, f"_format {format_!r} is not supported; this server speaks JSON only.", ("_format",)
        )
    accept = accept.lower()
    if accept and "json" not in accept and "*/*" not in accept and PDF not in accept:
        raise FhirError(406, "This server answers in application/fhir+json only; set Accept accordingly.")


def wants_pdf(accept: str, format_: str | None) -> bool:
    """The raw PDF rather than a Binary resource: Accept prefers application/pdf and no _format."""
    accept = accept.lower()
    return format_ is None and PDF in accept and "json" not in accept.split(PDF, 1)[0]


def check_parameters(query: QueryItems, allowed: frozenset[str]) -> None:
    """Strict handling: an unknown or repeated parameter is an error, never silently ignored."""
    permitted = allowed | COMMON_PARAMETERS
    seen = Counter(key for key, _ in query)
    for key in seen:
        if key not in permitted:
            if key.split(":", 1)[0] == "subject" and "subject:identifier" in permitted:
                message = (
                    "Only subject:identifier=system|value is supported (Patient resources are the EHR's)."
                )
            else:
                supported = ", ".join(sorted(permitted)) or "none"
                message = f"Unknown or unsupported search parameter {key!r}. Supported here: {supported}."
            raise FhirError(400, message, (key,))
        if key not in REPEATABLE_PARAMETERS and seen[key] > 1:
            raise FhirError(400, f"Give {key!r} once (use a comma for several values).", (key,))


def search_parameters(resource_type: str) -> frozenset[str]:
    names = {
        "subject:identifier" if name == "subject" else name for name, _, _ in SEARCH_PARAMETERS[resource_type]
    }
    return frozenset(names | {PAGING_PARAMETER})


_DATE_PATTERN = re.compile(
    r"^(?P<prefix>[a-z]{2})?(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


# The values date_range reads, for the OpenAPI schema: a supported prefix and a date that exists
# (29 February only in leap years), optionally with a time and a zone.
_YEAR = r"(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_LEAP_YEAR = r"([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)"
_MONTH = r"(0[1-9]|1[0-2])"
_MONTH_DAY = r"((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)"
_CLOCK = r"([01][0-9]|2[0-3]):[0-5][0-9]"
_TIME = rf"T{_CLOCK}(:[0-5][0-9](\.[0-9]{{1,6}})?)?(Z|[+-]{_CLOCK})?"
DATE_SEARCH_PATTERN = (
    rf"^(eq|ge|gt|le|lt)?({_YEAR}(-{_MONTH})?|({_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)({_TIME})?)$"
)


def date_range(text: str) -> tuple[str, datetime, datetime]:
    """A FHIR date search value as (prefix, start, end): the instant range its precision covers."""
    # An unencoded "+02:00" arrives as " 02:00"; read it the way the client meant it.
    match = _DATE_PATTERN.match(re.sub(r" (\d{2}:\d{2})$", r"+\1", text.strip(" ")))
    if match is None:
        raise FhirError(
            400,
            f"_lastUpdated {text!r} is not a FHIR date: use e.g. ge2026-11-01 or lt2026-11-22T10:00:00Z.",
            ("_lastUpdated",),
        )
    prefix = match["prefix"] or "eq"
    if prefix not in ("eq", "ge", "gt", "le", "lt"):
        raise FhirError(400, f"_lastUpdated prefix {prefix!r} is not supported; use ge, gt, le or lt.")
    try:
        year = int(match["year"])
        if match["time"]:
            zone = match["zone"] or "+00:00"
            stamp = f"{year:04d}-{match['month']}-{match['day']}T{match['time']}{zone.replace('Z', '+00:00')}"
            start = datetime.fromisoformat(stamp).astimezone(UTC)
            time = match["time"]
            step = (
                timedelta(microseconds=1)
                if "." in time
                else timedelta(seconds=1)
                if time.count(":") == 2
                else timedelta(minutes=1)
            )
            return prefix, start, start + step
        if match["day"]:
            start = datetime(year, int(match["month"]), int(match["day"]), tzinfo=UTC)
            return prefix, start, start + timedelta(days=1)
        if match["month"]:
            month = int(match["month"])
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            return prefix, start, end
        return prefix, datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: a time zone pushes the date past 9999 or 1
        raise FhirError(
            400, f"_lastUpdated {text!r} is not a real date or time.", ("_lastUpdated",)
        ) from None


def updated_bounds(values: list[str]) -> tuple[tuple[str, datetime], ...]:
    bounds: list[tuple[str, datetime]] = []
    for value in values:
        prefix, start, end = date_range(value)
        bounds.extend(
            {
                "eq": [("ge", start), ("lt", end)],
                "ge": [("ge", start)],
                "gt": [("ge", end)],
                "lt": [("lt", start)],
                "le": [("lt", end)],
            }[prefix]
        )
    return tuple(bounds)


def codes_pattern(codes: Iterable[str]) -> str:
    """A comma-separated list of these codes (spaces around each allowed), as an OpenAPI pattern."""
    code = "(" + "|".join(map(re.escape, sorted(codes))) + ")"
    return rf"^\s*{code}\s*(,\s*{code}\s*)*$"


STATUS_PATTERN = codes_pattern(FHIR_STATUS_TO_OURS)  # what statuses() reads


def statuses(text: str) -> tuple[str, ...]:
    ours: list[str] = []
    for code in (part.strip() for part in text.split(",")):
        if code not in FHIR_STATUS_TO_OURS:
            raise FhirError(
                400,
                f"status {code!r} is not a QuestionnaireResponse status; use in-progress or completed.",
                ("status",),
            )
        ours.extend(FHIR_STATUS_TO_OURS[code])
    return tuple(ours)


def ids(text: str) -> tuple[uuid.UUID, ...]:
    found = []
    for part in text.split(","):
        try:
            found.append(uuid.UUID(part.strip()))
        except ValueError:
            continue  # an id this server cannot have simply matches nothing
    return tuple(found)


def resource_id(resource_type: str, text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise FhirError(404, f"{resource_type}/{text} does not exist.") from None


@dataclass(frozen=True)
class SearchRequest:
    subject: str | None
    status: str | None
    last_updated: list[str] | None
    ids: str | None
    count: int | None
    cursor: str | None

    def audit_detail(self, count: int) -> dict[str, Any]:
        """The search parameters given, by their FHIR names, for the audit record."""
        given = {
            "subject:identifier": self.subject,
            "status": self.status,
            "_lastUpdated": self.last_updated or None,
            "_id": self.ids,
            "_cursor": self.cursor,
        }
        return {name: value for name, value in given.items() if value is not None} | {"_count": count}


@dataclass(frozen=True)
class ParsedSearch:
    where: ResponseFilter
    after: Cursor | None
    count: int


def parse_search(search: SearchRequest, resource_type: str) -> ParsedSearch:
    """The search a client asked for, as the response filter, cursor and page size to use."""
    try:
        system, value = parse_subject(search.subject) if search.subject is not None else (None, None)
        after = decode_cursor(search.cursor) if search.cursor is not None else None
    except SearchError as exc:
        raise FhirError(400, str(exc)) from None
    where = ResponseFilter(
        patient_system=system,
        patient_value=value,
        statuses=statuses(search.status) if search.status is not None else None,
        ids=ids(search.ids) if search.ids is not None else None,
        updated=updated_bounds(search.last_updated or []),
        with_summary=resource_type == "DocumentReference",
    )
    count = DEFAULT_COUNT if search.count is None else search.count
    if not 0 <= count <= MAX_PAGE_SIZE:
        raise FhirError(400, f"_count must be between 0 and {MAX_PAGE_SIZE}.", ("_count",))
    return ParsedSearch(where=where, after=after, count=count)
