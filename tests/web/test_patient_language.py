"""The patient's language: Accept-Language for a fresh start, the invitation's language, the switch
link on every patient page (answers kept), and lang="es" on Spanish pages."""

from __future__ import annotations

import re
from html import unescape

from litestar import Litestar

from sdm_service.services import invitations
from sdm_service.settings import Settings
from tests.report.measure import page_texts
from tests.web.clinician_support import audit_events, post_form, signed_in
from tests.web.patient_support import (
    BASE,
    Client,
    answer_all,
    content_of,
    csrf_token,
    db,
    post_step,
    step_values,
    stored_responses,
    submit,
)

SPANISH = {"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}
SWITCH = re.compile(r'<a href="([^"]+)" lang="(\w+)" hreflang="\w+">([^<]+)</a>')


def switch_links(html: str) -> dict[str, str]:
    return {code: unescape(href) for href, code, _name in SWITCH.findall(html)}


async def test_accept_language_chooses_spanish_for_a_fresh_start(client: Client, app: Litestar) -> None:
    welcome = await client.get(BASE, headers=SPANISH)
    assert '<html lang="es">' in welcome.text
    assert "Pensar en la radiación durante la cirugía (IORT)" in welcome.text
    assert "Hay 8 pasos cortos." in welcome.text  # plural through the catalog
    assert switch_links(welcome.text) == {"en": f"{BASE}/language/en?next={BASE}"}
    assert ">English</a>" in welcome.text
    step = await client.post(
        f"{BASE}/start", data={"_csrf_token": csrf_token(welcome.text), "language": "es"}, headers=SPANISH
    )
    assert '<html lang="es">' in step.text
    assert "¿Quién llena este formulario?" in step.text
    assert "Paso 1 de 9" in step.text
    (response,) = await stored_responses(app)
    assert response.language == "es"


async def test_english_stays_the_default(client: Client, app: Litestar) -> None:
    welcome = await client.get(BASE, headers={"Accept-Language": "de-DE, fr;q=0.8"})
    assert '<html lang="en">' in welcome.text
    assert "Thinking about radiation during surgery (IORT)" in welcome.text
    assert ">español</a>" in welcome.text


async def test_the_switch_link_keeps_the_answers(client: Client, app: Litestar) -> None:
    content = content_of(app)
    welcome = await client.get(BASE)
    await client.post(f"{BASE}/start", data={"_csrf_token": csrf_token(welcome.text)})
    first = step_values(content, {}, 0)
    await post_step(client, 1, first)
    step2 = await client.get(f"{BASE}/step/2")
    link = switch_links(step2.text)["es"]
    assert link == f"{BASE}/language/es?next={BASE}/step/2"
    switched = await client.get(link)
    assert str(switched.url).endswith(f"{BASE}/step/2")
    assert '<html lang="es">' in switched.text
    assert "Qué es la IORT" in switched.text
    (response,) = await stored_responses(app)
    assert response.language == "es"
    assert all(response.answers[key] == value for key, value in first.items())
    back = await client.get(f"{BASE}/step/1")
    assert "Sobre usted" in back.text
    assert 'value="patient" checked' in back.text
    # And back to English, also from the welcome page.
    english = await client.get(switch_links(back.text)["en"])
    assert '<html lang="en">' in english.text
    assert "About you" in english.text


async def test_the_switch_link_never_leaves_the_questionnaire(client: Client) -> None:
    away = await client.get(f"{BASE}/language/es?next=//evil.example/x", follow_redirects=False)
    assert away.status_code == 303
    assert away.headers["location"] == f"{BASE}?lang=es"  # no response yet: the welcome page
    unknown = await client.get(f"{BASE}/language/xx", follow_redirects=False)
    assert unknown.headers["location"] == f"{BASE}?lang=en"


async def test_a_spanish_invitation_opens_in_spanish_and_the_resume_link_stays_spanish(
    client: Client, app: Litestar, settings: Settings
) -> None:
    async with db(app) as session:
        created = await invitations.create_invitation(
            session, settings, content_of(app), patient_value="MRN-1", language="es"
        )
        await session.commit()
    opened = await client.get(created.url.replace(settings.base_url, ""))
    assert '<html lang="es">' in opened.text
    assert "Sobre usted" in opened.text
    save = await post_step(client, 1, {}, action="save")
    resume = unescape(re.search(r'id="resume-link"[^>]*value="([^"]+)"', save.text).group(1))  # type: ignore[union-attr]
    assert "Sus respuestas están guardadas" in save.text
    client.cookies.clear()  # a fresh browser that asks for English still gets the patient's Spanish
    fresh = await client.get(resume.replace(settings.base_url, ""), headers={"Accept-Language": "en"})
    assert '<html lang="es">' in fresh.text
    assert "Sobre usted" in fresh.text


async def test_error_pages_follow_the_browser_language(client: Client) -> None:
    page = await client.get(f"{BASE}/step/1", headers=SPANISH)
    assert page.status_code == 403
    assert '<html lang="es">' in page.text
    assert "No encontramos sus respuestas" in page.text


async def test_clinicians_choose_the_language_and_see_it_on_the_worklist(
    client: Client, app: Litestar
) -> None:
    await signed_in(client, app, "inviter")
    form = await client.get("/clinician/invitations")
    assert '<option value="es">Spanish</option>' in form.text
    created = await post_form(client, "/clinician/invitations", {"patient_value": "MRN-9", "language": "es"})
    assert created.status_code == 200, created.text
    (response,) = await stored_responses(app)
    assert response.language == "es"
    worklist = await client.get("/clinician")
    assert "<td>Spanish</td>" in worklist.text


async def test_a_spanish_walk_ends_with_a_spanish_summary_and_pdf(client: Client, app: Litestar) -> None:
    welcome = await client.get(BASE, headers=SPANISH)
    await client.post(f"{BASE}/start", data={"_csrf_token": csrf_token(welcome.text), "language": "es"})
    own_words = "Can my sister drive me every day?"  # the patient's own words stay as written
    await answer_all(client, content_of(app), {"own_questions": own_words})
    summary = await submit(client)
    assert summary.status_code == 200, summary.text
    assert '<html lang="es">' in summary.text
    assert "Su resumen" in summary.text
    assert "Temas para hablar con su equipo médico" in summary.text
    assert own_words in summary.text
    assert re.search(r"el \d{1,2} de [a-z]+ de 20\d\d", summary.text)  # a Babel date, in Spanish
    pdf = await client.get(f"{BASE}/summary.pdf")
    text = "\n".join(page_texts(pdf.content))
    assert "Su resumen para hablar" in text
    assert own_words in text
    (response,) = await stored_responses(app)
    # Clinicians read the stored Spanish PDF, and the same summary rendered in English.
    await signed_in(client, app, "reader")
    stored = await client.get(f"/clinician/responses/{response.id}/summary.pdf")
    assert stored.content == pdf.content
    english = await client.get(f"/clinician/responses/{response.id}/summary.pdf?language=en")
    english_text = "\n".join(page_texts(english.content))
    assert "Your discussion summary" in english_text
    assert own_words in english_text
    assert "-en.pdf" in english.headers["content-disposition"]
    downloads = await audit_events(app, "response.pdf")
    assert [event.detail["language"] for event in downloads] == ["es", "en"]
