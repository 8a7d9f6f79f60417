"""Signals other apps listen to. Sent after the transaction that changed the data commits."""

from django.dispatch import Signal

# Sent with `profile_ids` (a set of ints): traits, events, identifiers or merges changed.
profiles_changed = Signal()
