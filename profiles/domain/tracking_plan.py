"""Tracking plans: the events a source is expected to send and their typed properties. Pure."""

from typing import Any

TYPES = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


class PlanError(ValueError):
    """The tracking plan itself is malformed."""


def validate_plan(plan: object) -> dict[str, dict[str, str]]:
    """Check a plan's shape: {event name: {property: type}}; raises PlanError naming the problem."""
    if not isinstance(plan, dict):
        raise PlanError("A tracking plan is a JSON object of event names.")
    for event, properties in plan.items():
        if not isinstance(properties, dict):
            raise PlanError(f"{event!r}: expected an object of property types.")
        for name, kind in properties.items():
            if kind not in TYPES:
                allowed = ", ".join(TYPES)
                raise PlanError(f"{event!r}.{name}: unknown type {kind!r} (use {allowed}).")
    return plan


def _matches(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind in ("number", "integer"):
        return False
    return isinstance(value, TYPES[kind])


def violations(plan: dict[str, dict[str, str]], event: str | None, properties: dict) -> list[str]:
    """What a track event breaks in `plan` (empty when the plan is empty or the event conforms)."""
    if not plan or event is None:
        return []
    expected = plan.get(event)
    if expected is None:
        return [f"event {event!r} is not in the tracking plan"]
    found = []
    for name, kind in expected.items():
        if name not in properties or properties[name] is None:
            found.append(f"property {name!r} is required")
        elif not _matches(properties[name], kind):
            found.append(
                f"property {name!r} should be {kind}, got {type(properties[name]).__name__}"
            )
    return found
