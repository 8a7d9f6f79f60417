"""The models segment definitions compile against."""

from profiles.models import Event
from segments.domain.compiler import Registry
from segments.models import Membership

REGISTRY = Registry(event_model=Event, membership_model=Membership)
