"""Every page and API endpoint enforces its role. Walks the whole URLconf, so a new view that
forgets to declare its capability fails here."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from cdpapp.access import required_capability
from cdpapp.roles import ROLE_CAPABILITIES, Role, role_allows

# Reachable without signing in, on purpose.
# The collection API authenticates with a source's write key instead (profiles/tests).
# The preference centre is reached by a signed link: the signature is the authorisation.
# The favicon redirects to a static file.
PUBLIC = {"login", "logout", "healthz", "collect", "preference-centre", "favicon"}
# Any signed-in user (the API schema and its docs).
ANY_SIGNED_IN = {"api-schema", "api-docs"}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def _concrete(route: str) -> str:
    route = re.sub(r"<int:[^>]+>", "999999", route)
    route = re.sub(r"<uuid:[^>]+>", "00000000-0000-0000-0000-000000000000", route)
    route = re.sub(r"<(?:str|slug|path:)?[^>]*>", "x", route)
    return "/" + route.lstrip("^").rstrip("$")


def _view_class(pattern):
    callback = pattern.callback
    return getattr(callback, "view_class", None) or getattr(callback, "cls", None)


ROUTES = [(route, pattern) for route, pattern in _walk(get_resolver().url_patterns)]
GUARDED = [
    (_concrete(route), pattern)
    for route, pattern in ROUTES
    if pattern.name not in PUBLIC | ANY_SIGNED_IN
]


def test_the_walk_finds_the_whole_site():
    names = {pattern.name for _, pattern in ROUTES}
    assert {"home", "users", "api-me", "api-users", "profiles:index"} - names == {"profiles:index"}
    assert len(GUARDED) >= 8


@pytest.mark.parametrize(("path", "pattern"), GUARDED, ids=[path for path, _ in GUARDED])
def test_every_view_declares_a_capability(path, pattern):
    view = _view_class(pattern)
    assert view is not None, f"{path} is a function view: make it a class with a capability"
    declared = [required_capability(view, "GET"), required_capability(view, "POST")]
    assert any(declared), f"{path} ({view.__name__}) declares no read or write permission"
    for capability in filter(None, declared):
        assert capability in ROLE_CAPABILITIES[Role.ADMIN], f"{path}: unknown {capability}"


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "pattern"), GUARDED, ids=[path for path, _ in GUARDED])
def test_anonymous_visitors_are_refused(client, path, pattern):
    response = client.get(path)
    if path.startswith("/api/"):
        assert response.status_code in (401, 403)
        assert "error" in response.json()
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("path", "pattern"), GUARDED, ids=[path for path, _ in GUARDED])
def test_each_role_gets_exactly_what_it_may(client, api_client_for, make_user, role, path, pattern):
    view = _view_class(pattern)
    if path.startswith("/api/"):
        http = api_client_for(role)
    else:
        client.force_login(make_user(role))
        http = client
    for method in ("get", "post"):
        capability = required_capability(view, method)
        allowed = capability is not None and role_allows(role, capability)
        response = getattr(http, method)(path)
        if allowed:
            assert response.status_code != 403, f"{role} {method} {path} refused"
        else:
            assert response.status_code == 403, f"{role} {method} {path} let through"


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(ANY_SIGNED_IN))
def test_api_schema_needs_a_signed_in_user(client, api_client_for, name):
    from django.urls import reverse

    assert client.get(reverse(name)).status_code in (401, 403)
    assert api_client_for("analyst").get(reverse(name)).status_code == 200


def test_capabilities_per_role():
    assert role_allows(Role.MARKETER, "manage_segments")
    assert not role_allows(Role.MARKETER, "manage_sources")
    assert not role_allows(Role.ANALYST, "manage_segments")
    assert role_allows(Role.ANALYST, "view_dashboards")
    assert all(role_allows(Role.ADMIN, capability) for capability in ROLE_CAPABILITIES[Role.ADMIN])
    with pytest.raises(KeyError):
        role_allows(Role.ADMIN, "launch_rockets")
