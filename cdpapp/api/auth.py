from rest_framework import authentication, exceptions

from cdpapp.selectors import api_token_user


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <token>` with the per-user tokens of cdpapp.ApiToken."""

    def authenticate_credentials(self, key):
        user = api_token_user(key)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return (user, key)
