"""ASGI entry point: HTTP through Django, websockets through Channels (authenticated, same-origin only)."""

import gc
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.asgi import get_asgi_application
from django.core.exceptions import ImproperlyConfigured

try:
    django_asgi_app = get_asgi_application()
except ImproperlyConfigured as exc:  # one line, not a traceback (e.g. missing SECRET_KEY)
    sys.stderr.write(f"centralita: configuration error: {exc}\n")
    raise SystemExit(2) from None

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator

from connectors.mail.webhook import MailIntakeApp
from connectors.webchat.routing import with_webchat_websocket
from connectors.whatsapp.intake import WhatsappIntakeApp
from core.access_log import AccessLogMiddleware
from crm.intake import IntakeApp
from realtime.routing import websocket_urlpatterns

# Outermost: the access log sees every request, the fast webhook routes included, and never writes a secret path.
application = AccessLogMiddleware(ProtocolTypeRouter({
    # Kommo, WhatsApp and email webhooks take fast routes (core.intake: no middleware, body cap, group commit);
    # everything else is Django.
    "http": MailIntakeApp(WhatsappIntakeApp(IntakeApp(django_asgi_app))),
    # Staff sockets are same-origin only; the web chat visitors' socket checks each site's allowed origins itself.
    "websocket": with_webchat_websocket(
        AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),  # type: ignore[arg-type]
}))

# Everything imported so far lives as long as the process: moved out of the collector's sight, so the full
# collections that a burst of allocations (an event fanned out to 200 sockets) triggers do not walk it again.
gc.freeze()
