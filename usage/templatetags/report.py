from datetime import datetime

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import localize
from django.utils.html import conditional_escape, format_html, format_html_join

from billing.money import format_money

register = template.Library()
NUMERIC = frozenset({"duration", "units", "plan_minutes", "rate"})
LINK = '<td><a href="{}">{}</a></td>'
LINKED = frozenset({"time", "call_id"})  # the cells that open the record's explanation


@register.simple_tag
def record_cells(record, columns):
    """One table row's cells, built here rather than by a template tag a cell: 50 rows of 18
    columns are 900 cells, and the template's per-cell branches were most of the page's
    rendering."""
    cells, href = [], None
    for key, _title, get in columns:
        value = get(record)
        if key == "charge":
            cells.append(
                format_html('<td class="num">{}</td>', format_money(value, str(record.currency)))
            )
            continue
        if isinstance(value, datetime):
            text = timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
        else:
            text = conditional_escape(localize(value))
        if key in LINKED:
            href = href or reverse("usage:record", args=[record.record_id])
            link = '<td class="when"><a href="{}">{}</a></td>' if key == "time" else LINK
            cells.append(format_html(link, href, text))
        elif key in NUMERIC:
            cells.append(format_html('<td class="num">{}</td>', text))
        else:
            cells.append(format_html("<td>{}</td>", text))
    return format_html_join("", "{}", ((c,) for c in cells))
