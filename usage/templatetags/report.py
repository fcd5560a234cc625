from django import template

register = template.Library()


@register.simple_tag
def cell(record, column):
    """The value of one report column for one record."""
    _key, _title, get = column
    return get(record)
