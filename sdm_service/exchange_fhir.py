"""The FHIR part of an export: each response as a QuestionnaireResponse, one per line (ndjson)."""

from __future__ import annotations

import json
import logging
from typing import Any, TextIO

from sdm_service.content import ContentLibrary
from sdm_service.content.fhir import questionnaire_to_fhir
from sdm_service.content.schema import Questionnaire
from sdm_service.fhirmap.questionnaire_response import ResponseRecord, to_questionnaire_response
from sdm_service.services.questionnaires import from_definition

logger = logging.getLogger("sdm_service.exchange")


class FhirResponseWriter:
    """Each response as a QuestionnaireResponse, mapped against the questionnaire version it is
    pinned to (the stored definition, so old responses map against the form they answered)."""

    def __init__(
        self,
        questionnaire_versions: list[dict[str, Any]],
        base_url: str,
        library: ContentLibrary | None,
    ) -> None:
        self.forms: dict[tuple[str, str], tuple[Questionnaire, dict[str, Any]]] = {}
        for stored in questionnaire_versions:
            questionnaire = from_definition(stored.get("definition"))
            if questionnaire is None:
                logger.warning("questionnaire %s %s unreadable", stored["slug"], stored["version"])
                continue
            self.forms[(stored["slug"], stored["version"])] = (
                questionnaire,
                questionnaire_to_fhir(questionnaire, base_url),
            )
        for content in library.by_slug.values() if library else ():
            key = (content.slug, content.version)
            if key not in self.forms:  # a version nobody completed yet: the loaded files are it
                self.forms[key] = (
                    content.questionnaire,
                    questionnaire_to_fhir(content.questionnaire, base_url),
                )
        self.written = 0
        self.skipped: list[str] = []

    def write(self, handle: TextIO, row: Any) -> None:
        """One response (a row of the responses table) as a line of NDJSON, or noted as skipped."""
        form = self.forms.get((row.questionnaire_slug, row.questionnaire_version))
        if form is None:
            self.skipped.append(str(row.id))
            return
        try:
            resource = to_questionnaire_response(ResponseRecord.of(row), form[0], form[1])
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("response %s could not be mapped to FHIR: %s", row.id, exc)
            self.skipped.append(str(row.id))
            return
        handle.write(json.dumps(resource, ensure_ascii=False, sort_keys=True) + "\n")
        self.written += 1
