from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Cuentas y equipos")

    def ready(self) -> None:
        from accounts import signals  # noqa: F401  (connects the auth-signal receivers)
        from accounts.actions import authenticate_api_token
        from core.api import register_token_authenticator

        register_token_authenticator(authenticate_api_token)  # the API's bearer tokens are accounts' API tokens
