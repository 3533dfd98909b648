"""The /api/v1/ application: one NinjaAPI, one router per domain app."""

from accounts.api import router as accounts_router
from announcements.api import router as announcements_router
from automation.api import router as automation_router
from bots.api import router as bots_router
from campaigns.api import router as campaigns_router
from catalog.api import router as catalog_router
from core.api import API_AUTH, CentralitaAPI, StrictJsonParser, install_error_handlers
from customers.api import router as customers_router
from inbox.api import router as inbox_router
from knowledge.api import router as knowledge_router
from leads.api import router as leads_router
from orders.api import router as orders_router
from reports.api import router as reports_router
from teamchat.api import router as teamchat_router
from webhooks.api import router as webhooks_router

api = CentralitaAPI(
    title="Centralita API",
    version="1",
    description="REST API of Centralita. Authenticate with `Authorization: Bearer <token>` "
    "(create tokens in *Mi perfil* or with `manage.py create_api_token USERNAME`). Every error answers the JSON "
    "envelope `ErrorOut` (`detail`, `code`, and `field` or `errors` when a field is at fault); request bodies "
    "refuse fields the schema does not declare. Validation rules and limits: docs/api.md.",
    auth=API_AUTH,
    parser=StrictJsonParser(),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
)
install_error_handlers(api)
api.add_router("", accounts_router)
api.add_router("", customers_router)
api.add_router("", leads_router)
api.add_router("", catalog_router)
api.add_router("", orders_router)
api.add_router("", webhooks_router)
api.add_router("", inbox_router)
api.add_router("", automation_router)
api.add_router("", knowledge_router)
api.add_router("", bots_router)
api.add_router("", campaigns_router)
api.add_router("", reports_router)
api.add_router("", teamchat_router)
api.add_router("", announcements_router)
