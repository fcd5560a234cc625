"""The webhooks' services: endpoints, events and their delivery."""
