from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from moneyed import CurrencyDoesNotExist, get_currency

from usage.services.rates import RateCardError, rate_card_load


class Command(BaseCommand):
    help = "Replace the rate card of a currency from a CSV: prefix,type,rate_per_unit (* = all)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--currency", default="USD")

    def handle(self, *args, file, currency, **options):
        currency = currency.upper()
        try:
            get_currency(currency)
        except CurrencyDoesNotExist:
            raise CommandError(f"--currency: {currency!r} is not an ISO 4217 code.") from None
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}")
        if path.stat().st_size > 5 * 1024 * 1024:
            raise CommandError("The file is larger than 5 MB.")
        try:
            count = rate_card_load(currency=currency, text=path.read_bytes().decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise CommandError("The file is not UTF-8 text.") from None
        except RateCardError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Loaded {count} {currency} rates.")
