"""HTML pages: patient questionnaire and clinician workspace."""
