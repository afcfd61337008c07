"""deploy/k8s: every manifest passes the Kubernetes schema (kubernetes-validate, offline, strict),
and what they say holds against the app: non-root, read-only root filesystem, probes on paths the
app answers, secrets only by reference, and an environment the service accepts in production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.settings import PROJECT_ROOT, load_settings

K8S = PROJECT_ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"  # the oldest release a hospital cluster is likely to run


def documents() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found += [(path, document) for document in yaml.safe_load_all(path.read_text()) if document]
    return found


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [document for _, document in documents() if document["kind"] == kind]


def pod_specs() -> list[dict[str, Any]]:
    return [workload["spec"]["template"]["spec"] for workload in by_kind("Deployment") + by_kind("Job")]


@pytest.mark.parametrize(
    ("path", "document"), documents(), ids=lambda v: v.name if isinstance(v, Path) else ""
)
def test_every_manifest_is_valid_against_the_kubernetes_schema(path: Path, document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted({path.name for path, _ in documents()})


def test_pods_run_as_non_root_on_a_read_only_root_filesystem_with_secrets_by_reference() -> None:
    specs = pod_specs()
    assert specs
    for spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        for container in spec["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert any(mount["mountPath"] == "/tmp" for mount in container["volumeMounts"])
            for variable in container.get("env", []):
                if variable["name"] in ("SDM_DATABASE_URL", "SDM_SECRET_KEY", "SDM_METRICS_TOKEN"):
                    assert "secretKeyRef" in variable["valueFrom"], variable
                    assert "value" not in variable
    secrets_in_config = {"SDM_DATABASE_URL", "SDM_SECRET_KEY", "SDM_METRICS_TOKEN"} & set(
        by_kind("ConfigMap")[0]["data"]
    )
    assert secrets_in_config == set()


async def test_probes_ask_paths_the_app_answers_on_the_port_it_serves(
    client: AsyncTestClient[Litestar],
) -> None:
    (deployment,) = [d for d in by_kind("Deployment") if d["metadata"]["name"] == "sdm-service"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    port = container["command"][container["command"].index("--port") + 1]
    assert [p["containerPort"] for p in container["ports"]] == [int(port)]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        answer = await client.get(container[probe]["httpGet"]["path"], headers={"Host": "10.0.0.7:8000"})
        assert answer.status_code == 200, probe
    (service,) = by_kind("Service")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_the_configured_environment_is_one_the_service_accepts_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config: dict[str, str] = by_kind("ConfigMap")[0]["data"]
    for name, value in config.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SDM_DATABASE_URL", "postgresql://sdm_app:pw@postgres:5432/sdm")
    monkeypatch.setenv("SDM_SECRET_KEY", "Vq3xN8rT0pLm2sKd7YwB4cHz9uGf6eJa1QoR5tXi")
    settings = load_settings()
    assert settings.is_production
    assert settings.log_format_in_use == "json"
    assert settings.rate_limit_store == "redis"
