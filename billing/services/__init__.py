"""Billing operations, one module per concept. Each owns its transaction and locks the account."""
