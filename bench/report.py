"""What `make bench` prints and writes: the table, the PDF row's figures, the server comparison."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from bench.rows import PDF_PEER_TARGET, PDF_PER_PAGE_TARGET, REFERENCE

if TYPE_CHECKING:
    from bench.pdfbench import PdfFigures


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_table(report: dict[str, Any]) -> None:
    lines = []
    header = (
        f"{'row':<34} {'service':>10} {'ceiling':>10} {'ratio':>6} {'target':>7} {'':>4}"
        "  service p50/p99 ms   ceiling p50/p99 ms"
    )
    for run in report["http"]:
        lines.append("")
        lines.append(f"== {run['database']} / {run['server']}  ({report['config']['workers']} worker(s))")
        lines.append(header)
        for row in run["rows"]:
            s, c = row["service"] or {}, row["ceiling"] or {}
            metric = row["metric"]
            verdict = "ref" if row["target"] == REFERENCE else "PASS" if row["pass"] else "FAIL"
            if row["error"]:
                lines.append(f"{row['row']:<34} {'not measured: ' + row['error'].splitlines()[0][:90]}")
                continue
            lat = (
                f"{_fmt(s.get('p50_ms'), 2):>7}/{_fmt(s.get('p99_ms'), 2):<9}"
                f"  {_fmt(c.get('p50_ms'), 2):>7}/{_fmt(c.get('p99_ms'), 2):<9}"
            )
            errors = ""
            if s.get("errors") or c.get("errors"):
                errors = f"  errors: service {s.get('errors')}, ceiling {c.get('errors')}"
            lines.append(
                f"{row['row']:<34} {_fmt(s.get(metric)):>10} {_fmt(c.get(metric)):>10} "
                f"{_fmt(row['ratio'], 2):>6} {row['target']:>7} {verdict:>4}  {lat}{errors}"
            )
        rss = run["peak_rss"]
        lines.append(
            f"{rss['row']:<34} {_fmt(rss['service']['mb']):>7} MB {'':>10} {'':>6} {rss['target']:>7} "
            f"{'PASS' if rss['pass'] else 'FAIL':>4}"
        )
    pdf = report.get("pdf")
    if pdf:
        lines.append("")
        lines.append("== in process")
        lines.append(
            f"{pdf['row']:<34} {_fmt(pdf['service']['renders_per_s']):>10} "
            f"{_fmt(pdf['ceiling']['renders_per_s']):>10} {_fmt(pdf['ratio'], 2):>6} {pdf['target']:>7} "
            f"{'PASS' if pdf['pass'] else 'FAIL':>4}  renders/s; the summary has {pdf['summary_pdf_pages']} "
            f"pages (per page: {_fmt(pdf['ratio_per_page'], 2)} of the one-page ceiling, target "
            f"{pdf['target']}; of a bare ReportLab page: {_fmt(pdf['bare_reportlab']['ratio_per_page'], 2)})"
        )
        peer = pdf["peer"]
        lines.append(
            f"{'PDF: ours vs WeasyPrint peer':<34} {_fmt(pdf['service']['renders_per_s']):>10} "
            f"{_fmt(peer['renders_per_s'], 2):>10} {_fmt(peer['speedup'], 1) + 'x':>6} {peer['target']:>7} "
            f"{'PASS' if peer['pass'] else 'FAIL':>4}  renders/s; WeasyPrint makes {peer['pages']} pages "
            "from the web summary page"
        )
    deliveries = report.get("deliveries")
    if deliveries:
        lines.append("")
        lines.append(
            f"== write-back to the local FHIR server ({deliveries['worker_threads']} worker thread(s))"
        )
        if deliveries["error"]:
            lines.append(f"{deliveries['row']:<34} not measured: {deliveries['error'].splitlines()[0][:90]}")
        else:
            lines.append(
                f"{deliveries['row']:<34} {_fmt(deliveries['per_second'], 2):>10} deliveries/s; "
                f"completion to delivered p50 {_fmt(deliveries['p50_s'], 2)} s, "
                f"p95 {_fmt(deliveries['p95_s'], 2)} s; {deliveries['delivered']} of "
                f"{deliveries['deliveries']} delivered"
            )
    comparison = report.get("server_comparison")
    if comparison:
        lines.append("")
        lines.append(
            "== server comparison on SQLite: service / ceiling = ratio (req/s; worklist: p95 ms, "
            "large / small data set); the winner has the better service figure"
        )
        for line in comparison["lines"]:
            lines.append(line)
    print("\n".join(lines), flush=True)


def server_comparison(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    sqlite_runs = [run for run in runs if run["database"] == "sqlite"]
    if len(sqlite_runs) < 2:
        return None
    by_row: dict[str, dict[str, dict[str, Any]]] = {}
    for run in sqlite_runs:
        for row in run["rows"]:
            if row["service"]:
                by_row.setdefault(row["key"], {})[run["server"]] = row
    lines, winners = [], {}
    for key, per_server in by_row.items():
        parts = []
        for server, row in per_server.items():
            metric = row["metric"]
            parts.append(
                f"{server}: {_fmt(row['service'][metric])} / {_fmt(row['ceiling'][metric])}"
                f" = {_fmt(row['ratio'], 2)}"
            )
        lower_is_better = next(iter(per_server.values()))["metric"] == "p95_ms"
        pick = min if lower_is_better else max
        best = pick(per_server, key=lambda s: per_server[s]["service"][per_server[s]["metric"]])
        winners[key] = best
        lines.append(f"{key:<14} " + " | ".join(parts) + f"  -> {best}")
    return {"winners_by_row": winners, "lines": lines}


def pdf_report(pdf: PdfFigures) -> dict[str, Any]:
    """The PDF rows: our renders/s against the one-page ceiling (per page) and the WeasyPrint peer."""
    round_ratios = [round(a / b, 3) for a, b in zip(pdf.service_rps, pdf.ceiling_rps, strict=True) if b]
    ratio = round(statistics.median(round_ratios), 3) if round_ratios else None
    peer_rounds = [round(a / b, 2) for a, b in zip(pdf.service_rps, pdf.peer_rps, strict=True) if b]
    peer_speedup = round(statistics.median(peer_rounds), 2) if peer_rounds else None
    return {
        "row": "PDF summary render (in process)",
        "key": "pdf_render",
        "unit": "renders/s",
        "service": {
            "renders_per_s": round(pdf.service, 1),
            "rounds": [round(x, 1) for x in pdf.service_rps],
        },
        "ceiling": {
            "renders_per_s": round(pdf.ceiling, 1),
            "rounds": [round(x, 1) for x in pdf.ceiling_rps],
            "what": (
                "one page, 20 paragraphs, through the service's renderer (fonts, template, footer); "
                "no two pages with the same text"
            ),
        },
        # For reference: the same 20 paragraphs in bare ReportLab (Helvetica, nothing embedded).
        "bare_reportlab": {
            "renders_per_s": round(pdf.bare, 1),
            "rounds": [round(x, 1) for x in pdf.bare_rps],
            "ratio_per_page": round(pdf.service / pdf.bare * pdf.summary_pages, 3) if pdf.bare else None,
        },
        "summary_pdf_bytes": pdf.summary_bytes,
        "summary_pdf_pages": pdf.summary_pages,  # mean over the patients rotated through
        "summary_patients": pdf.patients,
        # The ceiling is one page; per page the summary costs this fraction of it.
        "ratio_per_page": round(ratio * pdf.summary_pages, 3) if ratio else None,
        "ratio": ratio,
        "round_ratios": round_ratios,
        "target": f">= {PDF_PER_PAGE_TARGET} per page",
        "pass": bool(ratio and ratio * pdf.summary_pages >= PDF_PER_PAGE_TARGET),
        "peer": {
            "what": "WeasyPrint: the web summary page (patient/summary.html) HTML to PDF",
            "renders_per_s": round(pdf.peer, 2),
            "rounds": [round(x, 2) for x in pdf.peer_rps],
            "pages": pdf.peer_pages,
            "speedup": peer_speedup,
            "round_speedups": peer_rounds,
            "target": f">= {PDF_PEER_TARGET:.0f}x",
            "pass": bool(peer_speedup and peer_speedup >= PDF_PEER_TARGET),
        },
    }
