"""Where the service finds the folders that sit beside the package in the source tree.

The top-level layout (questionnaires/, templates/, static/, migrations/, alembic.ini) is the
contract for editors. A built wheel carries copies of them inside the package, under
``sdm_service/_bundled/`` (the build step in setup.py puts them there), so a non-editable install
runs from any directory. A source checkout or an editable install has no such copy and reads the
checkout's own folders. Settings can still point the content, templates and static folders
elsewhere (SDM_CONTENT_DIR, SDM_TEMPLATES_DIR, SDM_STATIC_DIR).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Literal

BUNDLE_DIR = "_bundled"  # inside the installed package; the name setup.py writes to
CHECKOUT_ROOT = Path(__file__).resolve().parent.parent  # the source tree, when running from one

Resource = Literal["questionnaires", "templates", "static", "migrations", "alembic.ini"]


def bundled_root() -> Path | None:
    """The copy inside an installed wheel, or None when running from a checkout (editable install)."""
    root = files("sdm_service") / BUNDLE_DIR
    return root if isinstance(root, Path) and root.is_dir() else None


def resource_path(name: Resource) -> Path:
    """The folder or file NAME: the installed copy when there is one, else the checkout's.

    A missing path is returned as it is, so the loader that opens it names the path it lacked.
    """
    root = bundled_root()
    return (root or CHECKOUT_ROOT) / name
