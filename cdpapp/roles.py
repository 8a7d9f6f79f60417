"""The three roles and what each may do: pure data, read by the role sync and the access checks."""

from enum import StrEnum


class Role(StrEnum):
    MARKETER = "marketer"
    ADMIN = "admin"
    ANALYST = "analyst"

    @property
    def group_name(self) -> str:
        return self.value.capitalize()


# Capabilities, stored as Django permissions on cdpapp.Access (codename -> description).
CAPABILITIES: dict[str, str] = {
    "view_profiles": "Read profiles, identities and events",
    "view_segments": "Read segments and their members",
    "manage_segments": "Build, change and archive segments",
    "view_activations": "Read destinations, syncs and journeys",
    "manage_activations": "Launch and change syncs and journeys",
    "view_dashboards": "Read the measurement dashboards",
    "manage_sources": "Manage sources, write keys, imports and failed events",
    "manage_identity": "Manage identity types, merge rules and the review queue",
    "manage_consent": "Manage purposes and consent",
    "manage_privacy": "Handle data-subject requests and retention",
    "manage_users": "Manage users and their roles",
}

ROLE_CAPABILITIES: dict[Role, frozenset[str]] = {
    Role.MARKETER: frozenset(
        {
            "view_profiles",
            "view_segments",
            "manage_segments",
            "view_activations",
            "manage_activations",
            "view_dashboards",
        }
    ),
    Role.ANALYST: frozenset({"view_profiles", "view_segments", "view_dashboards"}),
    Role.ADMIN: frozenset(CAPABILITIES),
}


def role_allows(role: Role, capability: str) -> bool:
    """Whether `role` holds `capability`."""
    if capability not in CAPABILITIES:
        raise KeyError(f"unknown capability {capability!r}")
    return capability in ROLE_CAPABILITIES[role]
