"""Pages 2 onward: the good-sides-and-downsides grid (IORT beside EBRT), the discussion points that
refer to it, space for notes, and what the summary rests on (sources, dates, funding, disclaimer)."""

from __future__ import annotations

from xml.sax.saxutils import escape

from reportlab.platypus import CondPageBreak, Flowable, Spacer

from sdm_service.decision.snapshot import DiscussionPoint, EvidenceCitation, GridRow, SummarySnapshot
from sdm_service.report.flowables import CheckboxParagraph, NoteLines, table, table_style
from sdm_service.report.paragraph import Paragraph
from sdm_service.report.styles import (
    ACCENT_HEX,
    BAR_TRACK,
    CONTENT_WIDTH,
    RULE,
    SHADE,
    STYLES,
    WORRY_HEX,
    markup,
    para,
    paragraphs,
    sources_note,
)
from sdm_service.report.words import N_, _, long_date, ngettext

KIND_LABELS = {
    "benefit": N_("Good side"),
    "limitation": N_("Downside"),
    "risk": N_("Side effect"),
    "process": N_("Fact"),
    "figure": N_("Study result"),
    "warning": N_("When to call your care team"),
}


def _fact(citation: EvidenceCitation) -> Paragraph:
    label = _(KIND_LABELS[citation.kind]) if citation.kind in KIND_LABELS else ""
    note = sources_note(citation.source_ids, citation.id)
    text = f"<b>{escape(label)}:</b> {markup(citation.statement)}{note}"
    if citation.caveat:
        text += f" <i>{_('Keep in mind:')}</i> {markup(citation.caveat)}"
    return Paragraph(text, STYLES["cell_bullet"], bulletText="•")


def _side_effects(risks: list[EvidenceCitation]) -> Paragraph:
    names = []
    for risk in risks:
        name = markup(risk.label or risk.statement)
        if risk.worry:
            name = f"<font color='{WORRY_HEX}'><b>{name} ({_('worries you')})</b></font>"
        names.append(f"{name} <font size='8.5'>({escape(risk.id)})</font>")
    sources = sorted({s for risk in risks for s in risk.source_ids})
    return Paragraph(
        f"<b>{_('Known side effects')}</b>{sources_note(tuple(sources))}: {'; '.join(names)}.",
        STYLES["cell_bullet"],
        bulletText="•",
    )


def _iort_cell(row: GridRow) -> list[Flowable]:
    risks = [c for c in row.iort if c.kind == "risk"]
    flow: list[Flowable] = [_fact(c) for c in row.iort if c.kind not in ("risk", "warning")]
    if risks:
        flow.append(_side_effects(risks))
    flow.extend(_fact(c) for c in row.iort if c.kind == "warning")
    return flow


def _ebrt_cell(row: GridRow) -> list[Flowable]:
    flow: list[Flowable] = [
        Paragraph(f"{markup(c.statement)}{sources_note(c.source_ids, c.id)}", STYLES["cell"])
        for c in row.ebrt
    ]
    if row.ebrt_note:
        flow.append(para(row.ebrt_note, "cell"))
    return flow


def grid_section(snapshot: SummarySnapshot) -> list[Flowable]:
    if not snapshot.grid:
        return []
    topic_width, ebrt_width = 92.0, 150.0
    rows: list[list[object]] = [
        [para(_("Topic"), "cell_label"), para("IORT", "cell_label"), para("EBRT", "cell_label")]
    ]
    for row in snapshot.grid:
        title = markup(row.title)
        if row.top_priority:
            title += f"<br/><font color='{ACCENT_HEX}' size='8.5'>{_('A top priority for you')}</font>"
        rows.append([Paragraph(f"<b>{title}</b>", STYLES["cell"]), _iort_cell(row), _ebrt_cell(row)])
    grid = table(rows, [topic_width, CONTENT_WIDTH - topic_width - ebrt_width, ebrt_width])
    grid.setStyle(
        table_style(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (-1, 0), SHADE),
                ("LEFTPADDING", (0, 0), (-1, -1), 4),
                ("RIGHTPADDING", (0, 0), (-1, -1), 4),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                ("LINEBELOW", (0, 0), (-1, -1), 0.5, BAR_TRACK),
            ]
        )
    )
    grid.repeatRows = 1
    return [
        CondPageBreak(200),
        Paragraph(_("Good sides and downsides: IORT beside EBRT"), STYLES["h2"]),
        para(
            _(
                "Each fact is listed once, with its id and source. The sources name the side effects of "
                "IORT; ask your team about those of EBRT."
            ),
            "small",
        ),
        Spacer(1, 3),
        grid,
    ]


def _figures_table(figures: list[EvidenceCitation]) -> list[Flowable]:
    rows: list[list[object]] = [
        [
            para(_("Trial"), "cell_label"),
            para(_("Cancer back in the same breast after 5 years: IORT"), "cell_label"),
            para(_("With EBRT to the whole breast"), "cell_label"),
        ]
    ]
    for figure in figures:
        trial, with_iort, with_ebrt = figure.table_row or ("", "", "")
        rows.append(
            [
                Paragraph(f"{markup(trial)}{sources_note(figure.source_ids, figure.id)}", STYLES["cell"]),
                para(with_iort, "cell_bold"),
                para(with_ebrt, "cell_bold"),
            ]
        )
    grid = table(rows, [CONTENT_WIDTH - 250, 140, 110])
    grid.setStyle(
        table_style(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (-1, 0), SHADE),
                ("GRID", (0, 0), (-1, -1), 0.5, RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return [Spacer(1, 2), grid, Spacer(1, 2)]


def _point_facts(point: DiscussionPoint) -> list[Flowable]:
    flow: list[Flowable] = []
    figures = [c for c in point.evidence if c.table_row]
    if figures:
        flow.extend(_figures_table(figures))
    caveats: list[str] = []
    for citation in point.evidence:
        if citation.table_row is None:
            flow.append(
                Paragraph(
                    f"{markup(citation.statement)}{sources_note(citation.source_ids, citation.id)}",
                    STYLES["bullet"],
                    bulletText="•",
                )
            )
        if citation.caveat and citation.caveat not in caveats:
            caveats.append(citation.caveat)  # one caveat for the facts it covers, said once
    flow.extend(Paragraph(f"<i>{_('Keep in mind:')}</i> {markup(c)}", STYLES["body"]) for c in caveats)
    return flow


def _page_one_numbers(point: DiscussionPoint, first: int) -> str:
    numbers = [str(n) for n in point.question_numbers if n <= first]
    if not numbers:
        return ""
    word = ngettext("Question", "Questions", len(numbers))
    return f" <b>{_('Ask:')}</b> {word} {', '.join(numbers)} {_('on page 1.')}"


def _point_questions(point: DiscussionPoint, first: int) -> list[Flowable]:
    if not point.question_numbers:  # a summary made before questions were numbered
        return [CheckboxParagraph(markup(q), STYLES["check"]) for q in point.questions]
    return [
        CheckboxParagraph(f"{n}. {markup(q)}", STYLES["check"])
        for n, q in zip(point.question_numbers, point.questions, strict=True)
        if n > first
    ]


def points_section(snapshot: SummarySnapshot) -> list[Flowable]:
    flow: list[Flowable] = [
        CondPageBreak(120),
        Paragraph(_("Points to discuss with your care team"), STYLES["h2"]),
    ]
    if not snapshot.discussion_points:
        text = _(
            "Your answers did not add any set points to discuss. "
            "You can still bring up anything on your mind."
        )
        return [*flow, para(text, "body")]
    for number, point in enumerate(snapshot.discussion_points, start=1):
        text = f"<b>{_('Why:')}</b> {markup(point.why)}"
        if point.rows:
            rows = "; ".join(f"“{markup(title)}”" for title in point.rows)
            text += f" <b>{_('Facts:')}</b> {_('see')} {rows} {_('in the table above.')}"
        text += _page_one_numbers(point, snapshot.first_questions)
        block: list[Flowable] = [
            Paragraph(f"{number}. {markup(point.title)}", STYLES["h3"]),
            Paragraph(text, STYLES["body"]),
        ]
        block += _point_facts(point)
        block += _point_questions(point, snapshot.first_questions)
        flow += [CondPageBreak(60), *block]
    return flow


def notes_section() -> list[Flowable]:
    return [
        CondPageBreak(70),
        Paragraph(_("Notes"), STYLES["h2_free"]),
        NoteLines(min_count=2, max_count=5, gap=20.0),
    ]


def about_section(snapshot: SummarySnapshot) -> list[Flowable]:
    flow: list[Flowable] = [
        Paragraph(_("What this summary rests on"), STYLES["h2"]),
        para(
            _("Questionnaire: %(title)s, version %(version)s.")
            % {"title": snapshot.questionnaire_title, "version": snapshot.questionnaire_version},
            "small",
        ),
    ]
    if snapshot.checked_on:
        checked = snapshot.checked_on
        try:
            from datetime import date

            checked = long_date(date.fromisoformat(checked))
        except ValueError:
            pass
        policy = f"; {snapshot.review_policy}" if snapshot.review_policy else ""
        flow.append(para(_("Information checked on %(date)s") % {"date": checked} + f"{policy}.", "small"))
    if snapshot.funding_note:
        flow.append(para(_(snapshot.funding_note), "small"))  # the default note has translations
    for source in snapshot.sources:
        text = f"<b>{escape(source.id)}</b> {markup(source.citation)}"
        if source.date:
            text += f" ({markup(source.date)})"
        flow.append(Paragraph(text, STYLES["source"]))
    flow += [Spacer(1, 3), *paragraphs(snapshot.disclaimer, "disclaimer")]
    return flow
