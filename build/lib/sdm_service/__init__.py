"""sdm-service: shared decision-making questionnaire and discussion summary for IORT."""

__version__ = "0.1.0"
