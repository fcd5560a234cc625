from django.dispatch import Signal

# Sent inside the transaction that created the organisation, so that the apps can set up what
# every organisation has (billing opens its credit account) without this app importing them.
organisation_created = Signal()  # providing_args: organisation
