"""A Spanish-speaking patient in a real browser: a Spanish invitation (JSON API), every step by its
Spanish labels, axe-core finds nothing, the summary and the PDF are Spanish and read easily, and the
resume link opens in Spanish in a fresh browser that prefers English. The English walk is
tests/browser/test_patient_browser.py, unchanged."""

from __future__ import annotations

import io
import json
import re
import subprocess
import urllib.request
from typing import Any

import anyio
import pytest
import textstat
from pypdf import PdfReader

from sdm_service.content import Content
from sdm_service.web.patient import question_step_count, total_step_count
from tests.browser.conftest import CLINIC_NAME, ROOT, LiveServer
from tests.browser.test_patient_browser import assert_accessible, fill_step, new_page
from tests.live import SDM

pytestmark = pytest.mark.browser
MIN_SZIGRISZT = 65.0


def spanish_invitation(live_server: LiveServer, mrn: str) -> str:
    """An invitation in Spanish, made the way an EHR makes one: an API client, then the JSON API."""
    made = subprocess.run(
        [SDM, "api-clients", "create", f"EHR {mrn}", "--scopes", "invitations:write"],
        env=live_server.env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    token = made.stdout.strip().splitlines()[-1]
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/invitations",
        data=json.dumps({"patient": {"value": mrn}, "name": "Ana Díaz", "language": "es"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(json.load(answer)["url"])


async def answer_spanish_steps(page: Any, content: Content, answers: dict[str, Any], steps: range) -> None:
    total = total_step_count(content.questionnaire)
    for index in steps:
        number = index + 1
        await page.locator("#progress-label").filter(has_text=f"Paso {number} de {total}").wait_for()
        title = content.questionnaire.steps[index].title
        assert await page.title() == f"Paso {number} de {total}: {title} \u2013 {CLINIC_NAME}"
        assert await page.get_attribute("html", "lang") == "es"
        await assert_accessible(page, f"Spanish step {number}")
        await fill_step(page, content, answers, index)
        await page.get_by_role("button", name="Seguir").click()
        await page.wait_for_load_state()
        if "notice=" in page.url:
            await page.get_by_role("button", name="Seguir").click()
            await page.wait_for_load_state()


async def test_a_spanish_walk_from_a_spanish_invitation(browser: Any, live_server: LiveServer) -> None:
    content = live_server.content.in_language("es")
    page = await new_page(browser)
    await page.goto(spanish_invitation(live_server, "MRN-ES-1"))
    await page.wait_for_url(re.compile(r"/step/1$"))
    answers: dict[str, Any] = {"own_questions": "¿Puede venir mi hija conmigo?"}
    await answer_spanish_steps(page, content, answers, range(question_step_count(content.questionnaire)))

    await page.wait_for_url(re.compile(r"/review$"))
    await assert_accessible(page, "the Spanish review page")
    await page.get_by_role("button", name="Enviar mis respuestas").click()
    await page.wait_for_url(re.compile(r"/summary$"))
    await page.get_by_role("heading", name="Su resumen", level=1).wait_for()
    assert await page.get_attribute("html", "lang") == "es"
    assert "¿Puede venir mi hija conmigo?" in (await page.text_content("main") or "")
    await assert_accessible(page, "the Spanish summary page")

    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Bajar su resumen (PDF)").first.click()
    download = await download_info.value
    data = await anyio.Path(await download.path()).read_bytes()
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert "Su resumen para hablar" in text
    assert "¿Puede venir mi hija conmigo?" in text
    assert "Your discussion summary" not in text
    textstat.set_lang("es")
    try:
        score = float(textstat.szigriszt_pazos(text))
    finally:
        textstat.set_lang("en_US")
    print(f"Szigriszt-Pazos of the PDF from the browser walk: {score:.1f}")
    assert score >= MIN_SZIGRISZT
    await page.context.close()


async def test_resume_in_a_fresh_browser_stays_spanish(browser: Any, live_server: LiveServer) -> None:
    content = live_server.content.in_language("es")
    page = await new_page(browser)
    await page.goto(spanish_invitation(live_server, "MRN-ES-2"))
    await page.wait_for_url(re.compile(r"/step/1$"))
    answers: dict[str, Any] = {}
    await answer_spanish_steps(page, content, answers, range(2))
    await page.get_by_role("button", name="Guardar y terminar luego").click()
    await page.get_by_role("heading", name="Sus respuestas están guardadas").wait_for()
    await assert_accessible(page, "the Spanish saved page")
    link = await page.get_by_label("Su enlace personal").input_value()
    await page.context.close()

    context = await browser.new_context(locale="en-US", bypass_csp=True)  # a browser that prefers English
    other = await context.new_page()
    await other.goto(link)
    await other.wait_for_url(re.compile(r"/step/3$"))
    assert await other.get_attribute("html", "lang") == "es"
    assert content.questionnaire.steps[2].title in (await other.text_content("h1") or "")
    # The switch link in the header: English, same place, same answers; and back.
    await other.get_by_role("link", name="English").click()
    await other.wait_for_url(re.compile(r"/step/3$"))
    assert await other.get_attribute("html", "lang") == "en"
    await other.get_by_role("link", name="español").click()
    await other.wait_for_url(re.compile(r"/step/3$"))
    assert await other.get_attribute("html", "lang") == "es"
    await assert_accessible(other, "the Spanish step after switching back")
    await context.close()
