"""Page 1 of the summary: who, the decision and options, where the patient stands, what matters,
worries, quick-check misses, their own questions, the questions to ask first and a one-line
disclaimer. Everything a clinician needs in the first minute of the meeting."""

from __future__ import annotations

from xml.sax.saxutils import escape

from reportlab.platypus import Flowable, Spacer

from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.report.flowables import CheckboxParagraph, boxed, table, table_style
from sdm_service.report.paragraph import Paragraph
from sdm_service.report.styles import (
    ACCENT_HEX,
    CONTENT_WIDTH,
    NOTICE,
    NOTICE_EDGE,
    RULE,
    SHADE,
    STYLES,
    format_completed,
    format_consult,
    markup,
    para,
    paragraphs,
    patient_line,
    sources_note,
)
from sdm_service.report.words import _

TOP = 3


def header(snapshot: SummarySnapshot) -> list[Flowable]:
    who: list[tuple[str, str]] = []
    patient = patient_line(snapshot)
    if patient:
        who.append(patient)
    if snapshot.cancer_type:
        who.append((_("Cancer type"), snapshot.cancer_type.label))
    if snapshot.respondent:
        who.append((_("Filled in by"), snapshot.respondent.summary or snapshot.respondent.label))
    who.append((_("Completed"), format_completed(snapshot.completed_at)))
    who.append((_("Consult date"), format_consult(snapshot.consult_date)))
    if len(who) % 2:
        who.append(("", ""))
    rows = [
        [para(a, "cell_label"), para(b, "cell"), para(c, "cell_label"), para(d, "cell")]
        for (a, b), (c, d) in zip(who[::2], who[1::2], strict=True)
    ]
    label = 84.0
    grid = table(rows, [label, CONTENT_WIDTH / 2 - label, label, CONTENT_WIDTH / 2 - label])
    grid.setStyle(
        table_style(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                ("LINEBELOW", (0, -1), (-1, -1), 0.6, RULE),
            ]
        )
    )
    return [
        para(snapshot.clinic_name, "clinic"),
        Paragraph(_("Your discussion summary: radiation during surgery (IORT)"), STYLES["title"]),
        grid,
    ]


def decision(snapshot: SummarySnapshot) -> list[Flowable]:
    if snapshot.options is None:
        return []
    options = snapshot.options
    listed = "; ".join(markup(option) for option in options.options)
    return [
        Paragraph(_("The decision"), STYLES["h2"]),
        Paragraph(
            f"{markup(options.decision)} <b>{_('Options your care team may discuss:')}</b> {listed}."
            f"{sources_note(options.source_ids)}",
            STYLES["body"],
        ),
    ]


def _stand(snapshot: SummarySnapshot) -> list[Flowable]:
    flow: list[Flowable] = [Paragraph(_("Where you stand"), STYLES["label"])]
    for answer in (snapshot.leaning, snapshot.decision_role, snapshot.decision_stage):
        if answer is not None:
            flow.append(para(answer.summary or answer.label, "cell"))
    conflict = snapshot.conflict
    flow.append(Paragraph(_("How ready you feel"), STYLES["label"]))
    if conflict.score is not None:
        score = _("You answered yes to %(num)d of %(total)s readiness questions.") % {
            "num": conflict.score,
            "total": conflict.max_score,
        }
    else:
        score = _("Not finished: you answered %(num)s of %(total)s readiness questions.") % {
            "num": conflict.answered,
            "total": len(conflict.items),
        }
    flow.append(Paragraph(f"<b>{escape(score)}</b>", STYLES["cell"]))
    noes = [item.label for item in conflict.items if item.answer == "no"]
    if noes:
        flow.append(para(_("You said no to:"), "cell"))
        flow.extend(Paragraph(markup(label), STYLES["cell_bullet"], bulletText="•") for label in noes)
    flow.append(Spacer(1, 3))
    background, edge = (NOTICE, NOTICE_EDGE) if conflict.flagged else (SHADE, RULE)
    flag = "Flagged: " if conflict.flagged else ""
    text = Paragraph(f"<b>{flag}</b>{markup(conflict.meaning)}", STYLES["cell"])
    flow.append(boxed([text], background, edge, width=CONTENT_WIDTH / 2 - 10))
    return flow


def _matters(snapshot: SummarySnapshot) -> list[Flowable]:
    flow: list[Flowable] = [Paragraph(_("What matters most to you"), STYLES["label"])]
    top = [p for p in sorted(snapshot.priorities, key=lambda p: p.rank) if p.score > 0][:TOP]
    for priority in top:
        mark = (
            f" <font color='{ACCENT_HEX}'>({_('matters most to you')})</font>"
            if priority.most_important
            else ""
        )
        flow.append(
            Paragraph(
                f"{priority.rank}. <b>{markup(priority.label)}</b>: {markup(priority.rating_label)}{mark}",
                STYLES["cell"],
            )
        )
    if not snapshot.priorities:
        flow.append(para(_("You did not rate any priorities."), "cell"))
    elif not top:
        flow.append(para(_("You did not rate any priority as important."), "cell"))
    if snapshot.equal_ratings_note:
        flow.append(para(snapshot.equal_ratings_note, "cell"))
    flow.append(Paragraph(_("Side effects that worry you"), STYLES["label"]))
    if snapshot.side_effect_concerns:
        flow.append(para("; ".join(c.label for c in snapshot.side_effect_concerns) + ".", "cell"))
    else:
        flow.append(para(_("You did not mark any side effect as a worry."), "cell"))
    if snapshot.knowledge_misses:
        flow.append(Paragraph("Quick-check answers to go over", STYLES["label"]))
        for miss in snapshot.knowledge_misses:
            question = (
                miss.question.split(": ", 1)[-1]
                if miss.question.startswith(_("Quick check (optional): "))
                else miss.question
            )
            question = question[:1].upper() + question[1:]
            text = f"{_('You chose')} <b>“{markup(miss.answer)}”</b> {_('for:')} {markup(question)}"
            if miss.feedback:
                text += f" {markup(miss.feedback)}"
            flow.append(Paragraph(text, STYLES["cell_bullet"], bulletText="•"))
    return flow


def at_a_glance(snapshot: SummarySnapshot) -> list[Flowable]:
    half = CONTENT_WIDTH / 2
    columns = table([[_stand(snapshot), _matters(snapshot)]], [half, half])
    columns.setStyle(
        table_style(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (0, 0), 0),
                ("RIGHTPADDING", (0, 0), (0, 0), 10),
                ("LEFTPADDING", (1, 0), (1, 0), 10),
                ("LINEBEFORE", (1, 0), (1, 0), 0.6, RULE),
            ]
        )
    )
    return [Spacer(1, 4), columns]


def own_and_first_questions(snapshot: SummarySnapshot) -> list[Flowable]:
    flow: list[Flowable] = [Paragraph(_("Your own questions"), STYLES["h2"])]
    lines = paragraphs(snapshot.own_questions or "", "bullet")
    if lines:
        for line in lines:
            line.bulletText = "•"
        flow.extend(lines)
    else:
        flow.append(para(_("You did not write any questions. You can add some in the notes."), "body"))
    first = snapshot.questions[: snapshot.first_questions]
    if first:
        flow.append(Paragraph(_("Questions to ask first"), STYLES["h2"]))
        flow.extend(
            CheckboxParagraph(f"{number}. {markup(question)}", STYLES["check"])
            for number, question in enumerate(first, start=1)
        )
    if snapshot.short_disclaimer:
        flow += [Spacer(1, 4), para(snapshot.short_disclaimer, "small")]
    return flow


def first_page(snapshot: SummarySnapshot) -> list[Flowable]:
    return [
        *header(snapshot),
        *decision(snapshot),
        *at_a_glance(snapshot),
        *own_and_first_questions(snapshot),
    ]
