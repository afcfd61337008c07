"""A real EHR for the write-back tests (tests/ehr/) and the scale-out proof (tests/reliability/),
started once per test session from tests/ehr/*.mjs (npm ci), a pytest plugin that tests/conftest.py
loads so both packages share one server set:
Medplum's FHIR router (in-memory repository, validating) and oidc-provider issuing
client_credentials tokens to our private_key_jwt client, which knows us by our published JWKS.

Without Node or the npm packages these tests skip with the reason, unless SDM_REQUIRE_NODE=1
(as in .ci/run), where that fails the run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sdm_service.delivery.keys import load_signing_keys, public_jwks
from sdm_service.settings import PROJECT_ROOT

HERE = PROJECT_ROOT / "tests" / "ehr"  # the Node servers' scripts
CLIENT_ID = "sdm-service-test"
SCOPES = "system/DocumentReference.c system/Binary.c system/QuestionnaireResponse.c"
INTROSPECTION_CLIENT = "fhir-server:fhir-server-secret-0123456789"
REQUIRE_NODE = os.environ.get("SDM_REQUIRE_NODE") == "1"


def node_missing_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (PROJECT_ROOT / "node_modules" / "@medplum" / "fhir-router").is_dir():
        return "the npm packages are not installed (npm ci)"
    return None


def _need_node() -> None:
    reason = node_missing_reason()
    if reason:
        if REQUIRE_NODE:
            pytest.fail(f"The EHR test servers are required here but {reason}")
        pytest.skip(reason)


class EhrNotStarted(RuntimeError):
    pass


def _start(script: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    process = subprocess.Popen(
        ["node", str(HERE / script)],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the server's first line says where it listens
    if not line:
        process.kill()
        raise EhrNotStarted(f"{script} did not start (exit {process.wait()})")
    return process, json.loads(line)


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        process.kill()


def write_key_files(folder: Path) -> list[Path]:
    """Two keys, as during a rotation: an RSA key (signs) and an EC P-384 key (published too)."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP384R1())
    paths = []
    for name, key in (("rsa.pem", rsa_key), ("ec.pem", ec_key)):
        path = folder / name
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def ehr_key_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_key_files(tmp_path_factory.mktemp("ehr-keys"))


@dataclass(frozen=True)
class Ehr:
    fhir_base: str
    token_url: str
    control: str

    def control_post(self, what: str, body: dict[str, Any]) -> None:
        httpx.post(f"{self.control}/{what}", json=body, timeout=10).raise_for_status()

    def state(self) -> dict[str, Any]:
        return httpx.get(f"{self.control}/state", timeout=10).json()

    def search(self, query: str) -> list[dict[str, Any]]:
        bundle = httpx.get(f"{self.control}/fhir/{query}", timeout=10).json()
        return [entry["resource"] for entry in bundle.get("entry", [])]

    def read(self, reference: str) -> dict[str, Any]:
        return httpx.get(f"{self.control}/fhir/{reference}", timeout=10).json()

    def documents_for(self, fhir_base_of_ours: str, response_id: uuid.UUID | str) -> list[dict[str, Any]]:
        system = f"{fhir_base_of_ours}/DocumentReference"
        return self.search(f"DocumentReference?identifier={system}|{response_id}")

    def documents_of(self, fhir_base_of_ours: str) -> list[dict[str, Any]]:
        """Every DocumentReference carrying our identifier (any response id), in one search."""
        system = f"{fhir_base_of_ours}/DocumentReference"
        return self.search(f"DocumentReference?identifier={system}|&_count=10000")

    def reset(self) -> None:
        self.control_post("faults", {"status": 0, "count": 0})
        self.control_post("hold", {"on": False})


@contextmanager
def running_ehr(key_files: list[Path], folder: Path) -> Iterator[Ehr]:
    """Start the OAuth server, then the FHIR server that asks it about tokens; stop both after."""
    jwks_file = folder / "jwks.json"
    # The authorization server knows us by exactly what /.well-known/jwks.json publishes.
    jwks_file.write_text(json.dumps(public_jwks(load_signing_keys(key_files))))
    oauth, oauth_info = _start(
        "oauth_server.mjs",
        {
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_JWKS_FILE": str(jwks_file),
            "SCOPES": SCOPES,
            "INTROSPECTION_CLIENT": INTROSPECTION_CLIENT,
        },
    )
    try:
        fhir, fhir_info = _start(
            "fhir_server.mjs",
            {
                "INTROSPECTION_URL": oauth_info["introspection_endpoint"],
                "INTROSPECTION_CLIENT": INTROSPECTION_CLIENT,
                "TOKEN_URL": oauth_info["token_endpoint"],
            },
        )
        try:
            origin = f"http://127.0.0.1:{fhir_info['port']}"
            yield Ehr(f"{origin}/fhir", oauth_info["token_endpoint"], f"{origin}/__control")
        finally:
            _stop(fhir)
    finally:
        _stop(oauth)


@pytest.fixture(scope="session")
def ehr(ehr_key_files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ehr]:
    _need_node()
    try:
        with running_ehr(ehr_key_files, tmp_path_factory.mktemp("ehr")) as started:
            yield started
    except EhrNotStarted as exc:
        pytest.fail(str(exc))


@pytest.fixture
def fresh_ehr(ehr: Ehr) -> Iterator[Ehr]:
    ehr.reset()
    yield ehr
    ehr.reset()


def ehr_overrides(ehr: Ehr, key_files: list[Path], tmp_path: Path, **more: object) -> dict[str, object]:
    """Settings for a service that writes back to the test EHR (token URL discovered)."""
    values: dict[str, object] = {
        "ehr_fhir_base_url": ehr.fhir_base,
        "ehr_client_id": CLIENT_ID,
        "ehr_private_key_file": ",".join(str(path) for path in key_files),
        "ehr_scope": SCOPES,
        "delivery_queue_url": f"sqlite:///{tmp_path / 'queue.db'}",
        "delivery_backoff_seconds": 0.05,
        "delivery_backoff_max_seconds": 0.5,
        "ehr_timeout_seconds": 20,
    }
    values.update(more)
    return values
