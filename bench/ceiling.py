"""The ceiling app: bare Litestar doing the least work each kind of request can do.

It runs on the same server, worker count and options as the service, so the ratio
service / ceiling measures what the service adds, not the machine or the server.
Serve with e.g. `uvicorn --factory bench.ceiling:create_app`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from litestar import Litestar, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from litestar.template.config import TemplateConfig

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class AnswerForm:
    answer: str = ""


@get("/page")
async def page() -> Template:
    """Row 'template page': one small Jinja template rendered with two variables."""
    return Template("ceiling_page.html", context={"title": "Step 3 of 9", "answer": "somewhat"})


@post("/form", status_code=HTTP_303_SEE_OTHER)
async def form(data: Annotated[AnswerForm, Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Redirect:
    """Row 'form POST': parse a urlencoded body and answer 303, as a step save does."""
    return Redirect("/page", status_code=HTTP_303_SEE_OTHER)


@get("/json")
async def json_read() -> dict[str, object]:
    """Row 'JSON GET': a small dict serialised by Litestar."""
    return {"resourceType": "QuestionnaireResponse", "id": "ceiling", "status": "completed", "item": []}


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    return Litestar(
        route_handlers=[page, form, json_read, health],
        template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
        openapi_config=None,
        debug=False,
    )
