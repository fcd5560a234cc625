from django.core.management.base import BaseCommand

from billing.services.recharge import recharge_sweep


class Command(BaseCommand):
    help = "Check every account against its trigger and run due recharges (the 5-minute sweep)."

    def handle(self, *args, **options):
        self.stdout.write(f"Ran {recharge_sweep()} recharges.")
