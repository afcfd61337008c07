"""`sdm sample-pdf --out PATH`: write the PDF summary of a realistic example response, to look at."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("sample-pdf")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=Path("var/sample-summary.pdf"),
    show_default=True,
    help="Where to write the PDF.",
)
def sample_pdf(out: Path) -> None:
    """Render the example summary snapshot to a PDF file."""
    from sdm_service.report import render_summary_pdf
    from sdm_service.report.sample import example_snapshot

    data = render_summary_pdf(example_snapshot())
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as exc:
        raise click.ClickException(f"Could not write {out}: {exc.strerror or exc}") from None
    click.echo(f"Wrote {out} ({len(data):,} bytes)")
