"""The public preference centre, reached by a signed link (email footers, unsubscribe links)."""

from django.http import Http404
from django.shortcuts import render
from django.views import View

from privacy.preferences import preference_profile_id
from privacy.selectors import purposes
from privacy.services.consent import consent_record
from profiles.models import Profile
from profiles.selectors.profiles import profile_resolve


class PreferenceCentreView(View):
    """Public on purpose: the signed token is the authorisation (see tests/test_roles PUBLIC)."""

    def _profile(self, token: str) -> Profile:
        profile_id = preference_profile_id(token)
        profile = profile_resolve(profile_id=profile_id) if profile_id else None
        if profile is None:
            raise Http404("This link is not valid any more. Ask for a new one.")
        return profile

    def _context(self, profile: Profile, unsubscribe: str | None, saved: bool = False) -> dict:
        rows = []
        for purpose in purposes():
            current = (profile.consent or {}).get(purpose.slug) or {}
            granted = current.get("granted") is True and purpose.slug != unsubscribe
            rows.append({"purpose": purpose, "granted": granted, "decided": bool(current)})
        name = (profile.traits or {}).get("firstName") or (profile.traits or {}).get("first_name")
        return {"rows": rows, "name": name, "saved": saved, "unsubscribe": unsubscribe}

    def get(self, request, token: str):
        profile = self._profile(token)
        unsubscribe = request.GET.get("unsubscribe")
        return render(
            request, "privacy/preference_centre.html", self._context(profile, unsubscribe)
        )

    def post(self, request, token: str):
        profile = self._profile(token)
        chosen = set(request.POST.getlist("granted"))
        for purpose in purposes():
            current = (profile.consent or {}).get(purpose.slug) or {}
            wanted = purpose.slug in chosen
            if current.get("granted") is True and not wanted:
                status = "withdrawn"
            elif wanted and current.get("granted") is not True:
                status = "granted"
            elif not wanted and not current:
                status = "denied"
            else:
                continue
            consent_record(
                profile=profile,
                purpose=purpose.slug,
                status=status,
                channel="preference_centre",
                evidence={"ip": request.META.get("REMOTE_ADDR", ""), "page": "preference centre"},
            )
            profile.refresh_from_db()
        return render(
            request, "privacy/preference_centre.html", self._context(profile, None, saved=True)
        )
