"""Machine APIs: JSON v1 and FHIR R4."""
