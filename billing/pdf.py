"""Invoice PDFs, drawn with reportlab from the issued invoice (which never changes)."""

from __future__ import annotations

from io import BytesIO
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from billing.models import Invoice
from billing.money import format_money


def _party(title: str, details: dict, styles) -> list:
    lines = [f"<b>{escape(title)}</b>", escape(details.get("name", ""))]
    lines += [escape(line) for line in (details.get("address") or "").splitlines() if line.strip()]
    if details.get("country"):
        lines.append(escape(details["country"]))
    if details.get("tax_id"):
        lines.append(f"Tax ID {escape(details['tax_id'])}")
    return [Paragraph("<br/>".join(lines), styles["Normal"])]


def invoice_pdf(invoice: Invoice) -> bytes:
    styles = getSampleStyleSheet()
    currency = str(invoice.currency)
    buffer = BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Invoice {invoice.display_number}",
        author=invoice.seller.get("name", ""),
        leftMargin=18 * mm,
        rightMargin=18 * mm,
    )
    status = "Paid" if invoice.status == Invoice.Status.PAID else f"Due {invoice.due_date:%Y-%m-%d}"
    facts = [
        ["Invoice number", invoice.display_number],
        ["Issued", f"{invoice.issued_at:%Y-%m-%d %H:%M} UTC"],
        ["Status", status],
        ["Payment", invoice.payment_description],
    ]
    if invoice.agreement_id:
        facts.append(["Enterprise Agreement", invoice.agreement.number])
    if invoice.po_number:
        facts.append(["Purchase order", invoice.po_number])
    lines = [["Description", "Quantity", "Unit price", "Amount"]] + [
        [
            line.description,
            str(line.quantity),
            format_money(line.unit_amount, currency),
            format_money(line.amount, currency),
        ]
        for line in invoice.lines.all()
    ]
    lines.append(["", "", "Total", format_money(invoice.total, currency)])
    story = [
        Paragraph(f"Invoice {escape(invoice.display_number)}", styles["Title"]),
        Table(
            [[_party("From", invoice.seller, styles), _party("Bill to", invoice.buyer, styles)]],
            colWidths=[87 * mm, 87 * mm],
            style=[("VALIGN", (0, 0), (-1, -1), "TOP")],
        ),
        Spacer(1, 8 * mm),
        Table(
            facts,
            colWidths=[50 * mm, 124 * mm],
            style=[("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold")],
        ),
        Spacer(1, 8 * mm),
        Table(
            lines,
            colWidths=[84 * mm, 20 * mm, 35 * mm, 35 * mm],
            style=TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                    ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
                    ("LINEABOVE", (0, -1), (-1, -1), 0.5, colors.black),
                    ("FONTNAME", (2, -1), (-1, -1), "Helvetica-Bold"),
                    ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ]
            ),
        ),
        Spacer(1, 8 * mm),
        Paragraph(
            f"All amounts in {currency}. Communications Credits expire 12 months after purchase "
            "and are used first in, first out.",
            styles["Italic"],
        ),
    ]
    doc.build(story)
    return buffer.getvalue()


def statement_pdf(statement) -> bytes:
    styles = getSampleStyleSheet()
    currency = str(statement.account.currency)
    buffer = BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=f"Statement {statement.month:%Y-%m}")
    rows = [["", f"Amount ({currency})"]] + [
        [label, format_money(amount, currency)] for label, amount in statement.lines
    ]
    story = [
        Paragraph(f"Communications Credits statement, {statement.month:%B %Y}", styles["Title"]),
        Paragraph(escape(statement.account.organisation.name), styles["Normal"]),
        Spacer(1, 8 * mm),
        Table(
            rows,
            colWidths=[100 * mm, 60 * mm],
            style=TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                    ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
                    ("FONTNAME", (0, 1), (-1, 1), "Helvetica-Bold"),
                    ("LINEABOVE", (0, -1), (-1, -1), 0.5, colors.black),
                    ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ]
            ),
        ),
        Spacer(1, 6 * mm),
        Paragraph(
            "Every figure is summed from the ledger; opening balance plus the movements equals the closing balance.",
            styles["Italic"],
        ),
    ]
    doc.build(story)
    return buffer.getvalue()
