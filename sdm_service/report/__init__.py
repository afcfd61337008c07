"""Pure rendering of a summary snapshot to PDF bytes (ReportLab)."""

from sdm_service.report.pdf import pdf_filename, render_summary_pdf, render_summary_pdf_async

__all__ = ["pdf_filename", "render_summary_pdf", "render_summary_pdf_async"]
