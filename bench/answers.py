"""The benchmark's data, row by row: random answer sets the real questionnaire accepts, stored
summaries built by the real decision engine, and the rows of the responses table (bench/seed.py
inserts them). Deterministic for a seed.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import null

from sdm_service.content import Content
from sdm_service.content.logic import enabled_answers, is_enabled
from sdm_service.content.schema import Item, Questionnaire
from sdm_service.decision import build_summary
from sdm_service.decision.snapshot import PatientInfo
from sdm_service.models import ResponseStatus
from sdm_service.security import hash_token

SLUG = "iort-sdm"
DISTINCT_ANSWER_SETS = 300
TARGET_CHOICE_ITEMS = 6
# Share of each status in a clinic's worklist (invited links not opened yet, half-done, done, reviewed).
STATUS_MIX = (
    (ResponseStatus.INVITED, 0.05),
    (ResponseStatus.IN_PROGRESS, 0.25),
    (ResponseStatus.COMPLETED, 0.50),
    (ResponseStatus.REVIEWED, 0.20),
)
FIRST_NAMES = ("Maria", "James", "Aisha", "Chen", "Olga", "Luis", "Fatima", "Peter", "Grace", "Tomas")
LAST_NAMES = ("Nunez", "Okafor", "Smith", "Ivanova", "Kim", "Garcia", "Haddad", "Muller", "Brown", "Sato")
CLINIC_NAME = "Riverside Cancer Center"


# ---------------------------------------------------------------- answers and summaries


def _random_value(item: Item, rng: random.Random, today: date) -> Any:
    codes = item.option_codes()
    if item.type == "multiple_choice":
        return [code for code in codes if rng.random() < 0.35] or [codes[0]]
    if item.type == "date":
        window = item.date_range
        low, high = (window.min_days, window.max_days) if window else (-30, 120)
        return (today + timedelta(days=rng.randint(max(low, 1), max(min(high, 120), 1)))).isoformat()
    if item.type == "text":
        return rng.choice(
            (
                "How long does recovery take?",
                "Can my partner come with me on the day of surgery?",
                "Will I need to take time off work after IORT?",
            )
        )
    return rng.choice(codes)


def random_answers(questionnaire: Questionnaire, rng: random.Random, *, today: date) -> dict[str, Any]:
    """A full answer set the questionnaire accepts: conditions honoured, document order."""
    answers: dict[str, Any] = {}
    for item in questionnaire.items():
        if not item.answerable or not is_enabled(item, answers):
            continue
        if not item.required and rng.random() < 0.3:
            continue
        answers[item.id] = _random_value(item, rng, today)
    return enabled_answers(questionnaire, answers)


def build_summary_json(content: Content, answers: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The stored snapshot, computed by the real decision engine, as JSON."""
    snapshot = build_summary(
        content,
        answers,
        response_id=meta["response_id"],
        completed_at=datetime.fromisoformat(meta["completed_at"]),
        patient=PatientInfo(name=meta["patient_name"]),
        consult_date=date.fromisoformat(meta["consult_date"]) if meta["consult_date"] else None,
        clinic_name=CLINIC_NAME,
    )
    return dict(snapshot.model_dump(mode="json"))


# ---------------------------------------------------------------- rows


def _pick_status(rng: random.Random) -> str:
    roll = rng.random()
    for status, share in STATUS_MIX:
        roll -= share
        if roll < 0:
            return status
    return STATUS_MIX[-1][0]


def response_rows(
    content: Content, count: int, *, seed: int = 8, now: datetime | None = None
) -> Iterator[tuple[dict[str, Any], str]]:
    """(row for the responses table, status) for `count` responses, deterministic for a seed."""
    now = now or datetime.now(UTC)
    today = now.date()
    rng = random.Random(seed)
    answer_sets = [
        random_answers(content.questionnaire, rng, today=today) for _ in range(DISTINCT_ANSWER_SETS)
    ]
    summaries: dict[int, dict[str, Any]] = {}
    for index in range(count):
        status = _pick_status(rng)
        set_index = rng.randrange(DISTINCT_ANSWER_SETS)
        answers = answer_sets[set_index]
        response_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        created = now - timedelta(days=rng.uniform(0, 400))
        updated = created + timedelta(hours=rng.uniform(0, 48))
        # Most patients fill it in one to twelve weeks before their consult.
        consult = (created + timedelta(days=rng.randint(7, 84))).date() if rng.random() < 0.85 else None
        answers = dict(answers)
        if consult is None:
            answers.pop("consult_date", None)
        elif "consult_date" in answers:
            answers["consult_date"] = consult.isoformat()
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        row: dict[str, Any] = {
            "id": response_id,
            "questionnaire_slug": content.slug,
            "questionnaire_version": content.version,
            "status": status,
            "source": "web" if rng.random() < 0.9 else "api",
            "patient_system": "urn:oid:2.16.840.1.113883.3.999",
            "patient_value": f"MRN{index:08d}",
            "patient_name": name,
            "consult_date": consult,
            "invitation_id": None,
            "resume_token_hash": hashlib.sha256(response_id.bytes).hexdigest(),
            "current_step": 0,
            "answers": {},
            "summary": null(),  # SQL NULL, as the ORM writes it (not the JSON text 'null')
            "conflict_score": None,
            "conflict_flag": False,
            "top_priority": None,
            "created_at": created,
            "updated_at": updated,
            "completed_at": None,
            "reviewed_at": None,
            "lock_version": 1,
        }
        if status == ResponseStatus.IN_PROGRESS:
            steps = len(content.questionnaire.steps)
            row["current_step"] = rng.randrange(1, steps)
            keep = {
                item.id for step in content.questionnaire.steps[: row["current_step"]] for item in step.items
            }
            row["answers"] = {key: value for key, value in answers.items() if key in keep}
        elif status in (ResponseStatus.COMPLETED, ResponseStatus.REVIEWED):
            row["answers"] = answers
            row["completed_at"] = updated
            if status == ResponseStatus.REVIEWED:
                row["reviewed_at"] = updated + timedelta(days=1)
                row["updated_at"] = row["reviewed_at"]
            if set_index not in summaries:
                summaries[set_index] = build_summary_json(
                    content,
                    answers,
                    {
                        "response_id": str(response_id),
                        "completed_at": updated.isoformat(),
                        "consult_date": consult.isoformat() if consult else None,
                        "patient_name": name,
                    },
                )
            summary = dict(summaries[set_index])
            summary.update(
                response_id=str(response_id),
                completed_at=updated.isoformat(),
                consult_date=consult.isoformat() if consult else None,
                patient={"name": name, "identifier_system": None, "identifier_value": None},
            )
            row["summary"] = summary
            conflict = summary.get("conflict") or {}
            row["conflict_score"] = conflict.get("score")
            row["conflict_flag"] = bool(conflict.get("flagged"))
            row["top_priority"] = summary.get("most_important")
        yield row, status


def target_step_index(questionnaire: Questionnaire) -> int:
    """The priorities step: the first with TARGET_CHOICE_ITEMS choice questions."""
    for index, step in enumerate(questionnaire.steps):
        choices = [item for item in step.items if item.type in ("single_choice", "importance")]
        if len(choices) >= TARGET_CHOICE_ITEMS:
            return index
    raise ValueError("no step with enough choice questions to benchmark")


def patient_session_rows(
    content: Content, tokens: list[str], *, now: datetime, seed: int = 9
) -> list[dict[str, Any]]:
    """In-progress responses that reached the priorities step, one per raw resume token."""
    rng = random.Random(seed)
    questionnaire = content.questionnaire
    step = target_step_index(questionnaire)
    earlier = {item.id for s in questionnaire.steps[:step] for item in s.items}
    rows = []
    for token in tokens:
        answers = random_answers(questionnaire, rng, today=now.date())
        rows.append(
            {
                "id": uuid.uuid4(),
                "questionnaire_slug": content.slug,
                "questionnaire_version": content.version,
                "status": ResponseStatus.IN_PROGRESS,
                "source": "web",
                "patient_system": "",
                "patient_value": "",
                "patient_name": "",
                "consult_date": None,
                "invitation_id": None,
                "resume_token_hash": hash_token(token),
                "current_step": step,
                "answers": {key: value for key, value in answers.items() if key in earlier},
                "summary": null(),
                "conflict_score": None,
                "conflict_flag": False,
                "top_priority": None,
                "created_at": now,
                "updated_at": now,
                "completed_at": None,
                "reviewed_at": None,
                "lock_version": 1,
            }
        )
    return rows
