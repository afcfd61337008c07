"""authlib's httpx OAuth client, imported in one place.

authlib 1.9 warns at import that its httpx integration is deprecated in favour of httpx2. The
warning is known and tracked (README, "Installing: locks and production"); printed at import it would be the
one line of a JSON log that is not JSON, so it is silenced here and only here.
"""

from __future__ import annotations

import warnings

from authlib.deprecate import AuthlibDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

__all__ = ["AsyncOAuth2Client"]
