"""The administrator's audit log page: read and filter only, and every view of it is itself audited.

There is deliberately no route that edits or deletes an audit event.
(Registered under /clinician/admin with the accounts pages, in web/clinician/admin.py.)
"""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import get
from litestar.di import NamedDependency
from litestar.response import Template

from sdm_service.services import audit_query
from sdm_service.web.clinician.common import ClinicianCall, FormError, page_links, parse_date, parse_page


@get("/audit", name="clinician:audit", include_in_schema=False)
async def audit_view(call: NamedDependency[ClinicianCall]) -> Template:
    form_values = {name: call.query(name) for name in ("action", "actor", "entity_id", "from", "to")}
    actions = await audit_query.known_actions(call.db_session)
    try:
        filters = audit_query.AuditFilters(
            action=form_values["action"],
            actor=form_values["actor"],
            entity_id=form_values["entity_id"],
            date_from=parse_date(form_values["from"], "From"),
            date_to=parse_date(form_values["to"], "To"),
            page=parse_page(call.query("page")),
        )
    except (FormError, audit_query.AuditFilterError) as exc:
        return call.page(
            "clinician/audit.html",
            {"error": str(exc), "result": None, "form": form_values, "actions": actions},
            status_code=400,
        )
    result = await audit_query.audit_page(call.db_session, filters)
    base = [(k, v) for k, v in form_values.items() if v]
    # Reading the audit log is itself on the record. Added after the queries above, so this view
    # is not among the entries it shows, and written when the request's unit of work commits.
    await call.audit(
        "audit.view",
        entity_type="audit_event",
        detail={"filters": {k: v[:200] for k, v in base}, "page": result.page, "total": result.total},
    )
    return call.page(
        "clinician/audit.html",
        {
            "error": None,
            "result": result,
            "form": form_values,
            "actions": actions,
            **page_links(result.page, result.pages, lambda number: urlencode([*base, ("page", str(number))])),
        },
    )


routes = [audit_view]
