from decimal import Decimal

from django import template

from billing.money import format_money

register = template.Library()


@register.filter
def money(amount: Decimal | None, currency) -> str:
    """`{{ lot.remaining|money:account.currency }}` → `1,234.50 USD`."""
    return "" if amount is None else format_money(amount, str(currency))
