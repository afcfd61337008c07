"""What a delivery worker thread holds for its jobs: a database engine, the EHR client (its token
cached between jobs) and the questionnaire library."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from sdm_service.content import ContentLibrary, load_library
from sdm_service.db import create_engine
from sdm_service.delivery.client import EhrClient
from sdm_service.delivery.keys import load_signing_keys
from sdm_service.settings import Settings

WORKER_POOL_SIZE = 2


@dataclass
class WorkerRuntime:
    engine: AsyncEngine
    ehr: EhrClient
    library: ContentLibrary

    @classmethod
    async def start(cls, settings: Settings) -> WorkerRuntime:
        keys = load_signing_keys(settings.ehr_private_key_file)
        return cls(
            engine=create_engine(settings, pool_size=WORKER_POOL_SIZE),
            ehr=EhrClient(settings, keys[0]),
            library=load_library(settings.content_dir),
        )

    async def close(self) -> None:
        await self.ehr.aclose()
        await self.engine.dispose()
