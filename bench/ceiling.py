"""The ceiling app: bare Litestar doing the least work each kind of request can do.

It runs on the same server, worker count and options as the service, so the ratio
service / ceiling measures what the service adds, not the machine or the server.
Serve with e.g. `uvicorn --factory bench.ceiling:create_app`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from litestar import Litestar, get, post
from litestar.config.csrf import CSRFConfig
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from litestar.template.config import TemplateConfig

from bench.essential import essential_router

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


BARE_PATHS = ["/page", "/form", "/json", "/health"]


def create_app() -> Litestar:
    """The bare rows always; with the service's settings in the environment (SDM_DATABASE_URL, as
    `make bench` starts it) also the essential-work ceilings on the service's own paths."""
    if not os.environ.get("SDM_DATABASE_URL"):
        return Litestar(
            route_handlers=[page, form, json_read, health],
            template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
            openapi_config=None,
            debug=False,
        )
    from sdm_service.app import configure_templates
    from sdm_service.content import load_library
    from sdm_service.db import create_engine
    from sdm_service.i18n import Catalogs
    from sdm_service.settings import get_settings

    settings = get_settings()
    library = load_library(settings.content_dir)
    engine = create_engine(settings)

    catalogs = Catalogs()

    def configure(engine: JinjaTemplateEngine) -> None:  # exactly as the service's create_app() does
        configure_templates(engine.engine, settings, library, catalogs)

    async def dispose() -> None:
        await engine.dispose()

    return Litestar(
        route_handlers=[page, form, json_read, health, essential_router(settings, library, engine)],
        template_config=TemplateConfig(
            directory=[settings.templates_dir, TEMPLATES],
            engine=JinjaTemplateEngine,
            engine_callback=configure,
        ),
        # A form's essential work includes its CSRF check; the same secret as the service's, so the
        # same cookie and token pass on both. The bare rows stay bare.
        csrf_config=CSRFConfig(
            secret=settings.secret_key.get_secret_value(),
            cookie_name=settings.cookies.csrf,
            cookie_secure=settings.secure_cookies,
            cookie_httponly=True,
            cookie_samesite="lax",
            exclude=BARE_PATHS,
        ),
        on_shutdown=[dispose],
        openapi_config=None,
        debug=False,
    )
