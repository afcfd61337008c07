"""Build step: ship the top-level folders inside the package so a wheel runs without the checkout.

Everything else about the build is declared in pyproject.toml. The folders keep their place at the
top of the source tree (editors and reviewers know them there); a wheel gets copies under
sdm_service/_bundled/, where sdm_service/resources.py looks first. Editable installs skip the copy
and read the checkout. MANIFEST.in puts the same folders in the source distribution.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLE = Path("sdm_service") / "_bundled"  # resources.BUNDLE_DIR
FOLDERS = ("questionnaires", "templates", "static", "migrations")
FILES = ("alembic.ini",)
SKIP = shutil.ignore_patterns("__pycache__", "*.py[co]", ".DS_Store")


class BuildPyWithContent(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # resources.py falls back to the checkout (make compiles its catalogs)
        _compile_catalogs(Path(self.build_lib) / "sdm_service" / "locale")
        target = Path(self.build_lib) / BUNDLE
        shutil.rmtree(target, ignore_errors=True)  # never ship a file deleted since the last build
        target.mkdir(parents=True)
        for folder in FOLDERS:
            shutil.copytree(ROOT / folder, target / folder, ignore=SKIP)
        for name in FILES:
            shutil.copy2(ROOT / name, target / name)


def _compile_catalogs(locale_dir: Path) -> None:
    """The interface catalogs: every .po compiled to .mo beside it (compiled files are not committed)."""
    for po_path in locale_dir.glob("*/LC_MESSAGES/*.po"):
        with po_path.open("rb") as source:
            catalog = read_po(source)
        with po_path.with_suffix(".mo").open("wb") as target:
            write_mo(target, catalog)


setup(cmdclass={"build_py": BuildPyWithContent})
