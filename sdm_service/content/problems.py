"""A content problem (file, path inside it, reason) and the error that carries a list of them.

Kept apart from the loader so the checks and the loader both import it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

# The three files of a content folder: the loader reads them, and each problem names one.
QUESTIONNAIRE_FILE = "questionnaire.yaml"
EVIDENCE_FILE = "evidence.yaml"
RULES_FILE = "rules.yaml"


@dataclass(frozen=True)
class Problem:
    file: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path or '(top)'}: {self.reason}"


class ContentError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
