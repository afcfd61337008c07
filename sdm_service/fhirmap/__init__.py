"""Pure mappings between the service's records and HL7 FHIR R4 resources (JSON dicts).

No I/O here: handlers load rows and snapshots, these functions shape them. Every resource they
emit is checked against the `fhir.resources` R4B models in the tests.
"""

from sdm_service.fhirmap.common import (
    FHIR_JSON,
    FHIR_STATUS_TO_OURS,
    fhir_instant,
    fhir_status,
    identifier_reference,
)

__all__ = ["FHIR_JSON", "FHIR_STATUS_TO_OURS", "fhir_instant", "fhir_status", "identifier_reference"]
