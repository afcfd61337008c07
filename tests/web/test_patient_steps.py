"""How the steps adapt to earlier answers: skipped steps, same-page follow-ups, saving midway."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from sdm_service.app import create_app
from sdm_service.content.logic import enabled_items
from sdm_service.models import PatientResponse
from sdm_service.settings import PROJECT_ROOT
from tests.conftest import make_settings
from tests.web.patient_support import (
    BASE,
    Client,
    content_of,
    db,
    input_names,
    post_step,
    resume_link,
    start,
    step_values,
)


async def stored(app: Litestar) -> PatientResponse:
    async with db(app) as session:
        return (await session.execute(select(PatientResponse))).scalar_one()


async def test_a_step_where_nothing_applies_is_skipped_both_ways(client: Client, app: Litestar) -> None:
    content = content_of(app)
    questionnaire = content.questionnaire
    conditional_step = next(
        index
        for index, step in enumerate(questionnaire.steps)
        if any(item.answerable for item in step.items)
        and all(item.enable_when for item in step.items if item.answerable)
    )
    # Rate every priority as not important: none of the follow-ups apply.
    answers: dict = {item.id: "not" for item in questionnaire.items() if item.type == "importance"}
    assert not enabled_items(questionnaire, answers, conditional_step)

    await start(client)
    result = None
    for index in range(conditional_step):
        values = step_values(content, answers, index)
        answers.update(values)
        result = await post_step(client, index + 1, values)
        if "notice=" in str(result.url):
            result = await post_step(client, index + 1, values)
    assert result is not None
    assert str(result.url).endswith(f"{BASE}/step/{conditional_step + 2}")
    # Opening the skipped step directly moves on too, and Back jumps over it.
    direct = await client.get(f"{BASE}/step/{conditional_step + 1}")
    assert str(direct.url).endswith(f"{BASE}/step/{conditional_step + 2}")
    back = await post_step(client, conditional_step + 2, {}, action="back")
    assert str(back.url).endswith(f"{BASE}/step/{conditional_step}")


async def test_save_and_finish_later_on_an_unanswered_step_comes_back_to_it(
    client: Client, app: Litestar
) -> None:
    content = content_of(app)
    first = await start(client)
    link = resume_link(first)
    await post_step(client, 1, step_values(content, {}, 0))
    saved = await post_step(client, 2, {}, action="save")
    assert str(saved.url).endswith(f"{BASE}/saved")
    client.cookies.clear()
    resumed = await client.get(link.removeprefix("http://testserver.local"))
    assert str(resumed.url).endswith(f"{BASE}/step/2")
    assert (await stored(app)).current_step == 1


@pytest.fixture
def follow_up_app(database_url: str, tmp_path: Path) -> Litestar:
    """The real content plus a follow-up question on the same page as the question it depends on."""
    folder = tmp_path / "content" / "iort-sdm"
    shutil.copytree(PROJECT_ROOT / "questionnaires" / "iort-sdm", folder)
    data = yaml.safe_load((folder / "questionnaire.yaml").read_text())
    first_step = data["steps"][0]["items"]
    trigger = next(item for item in first_step if item["type"] == "single_choice")
    position = first_step.index(trigger) + 1
    first_step.insert(
        position,
        {
            "id": "same_page_follow_up",
            "type": "single_choice",
            "text": {"en": "A question that appears after that choice", "es": "Una pregunta nueva"},
            "required": True,
            "options": [
                {"code": "one", "label": {"en": "One", "es": "Uno"}},
                {"code": "two", "label": {"en": "Two", "es": "Dos"}},
            ],
            "enable_when": [
                {"question": trigger["id"], "operator": "=", "answer": trigger["options"][-1]["code"]}
            ],
        },
    )
    (folder / "questionnaire.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    # Content may only ask what the summary uses: let the new answer bring up the first point.
    rules = yaml.safe_load((folder / "rules.yaml").read_text())
    rules["points"][0]["triggers"].append(
        {
            "when": [{"item": "same_page_follow_up", "in": ["two"]}],
            "why": {"en": 'You answered "{answer}".', "es": 'Usted dijo "{answer}".'},
        }
    )
    (folder / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    return create_app(make_settings(database_url, content_dir=tmp_path / "content"))


async def test_a_follow_up_on_the_same_page_is_added_then_asked(follow_up_app: Litestar) -> None:
    app = follow_up_app
    content = content_of(app)
    trigger = next(i for i in content.questionnaire.steps[0].items if i.type == "single_choice")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        first = await start(client)
        assert "same_page_follow_up" not in input_names(first)
        values = step_values(content, {trigger.id: trigger.option_codes()[-1]}, 0)
        values.pop("same_page_follow_up", None)
        added = await post_step(client, 1, values)
        assert str(added.url).endswith(f"{BASE}/step/1?notice=added")
        assert "we added a question" in added.text
        assert "same_page_follow_up" in input_names(added.text)
        # The other answers were saved; the new question is required, so Continue asks for it.
        again = await post_step(client, 1, values)
        assert again.status_code == 422
        assert 'href="#same_page_follow_up-one"' in again.text
        done = await post_step(client, 1, {**values, "same_page_follow_up": "two"})
        assert str(done.url).endswith(f"{BASE}/step/2")
        assert (await stored(app)).answers["same_page_follow_up"] == "two"

        # Choosing another answer removes the follow-up and drops its answer.
        other = {**values, trigger.id: trigger.option_codes()[0], "same_page_follow_up": "two"}
        await post_step(client, 1, other)
        answers = (await stored(app)).answers
        assert "same_page_follow_up" not in answers
        assert answers[trigger.id] == trigger.option_codes()[0]
