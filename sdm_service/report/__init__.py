"""Pure rendering of a summary snapshot to PDF bytes (ReportLab)."""
