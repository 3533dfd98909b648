from django.urls import URLPattern, URLResolver, path

from connectors.webchat import api, views

app_name = "webchat"
urlpatterns: list[URLPattern | URLResolver] = [
    path("webchat/sites/", views.site_list, name="sites"),
    path("webchat/sites/<int:site_id>/", views.site_edit, name="site"),
    path("webchat/conversations/<int:conversation_id>/typing", views.agent_typing, name="agent_typing"),
    path("webchat/demo/", views.demo, name="demo"),
    # Public widget endpoints (site token + visitor token, CORS for the site's allowed origins).
    path("webchat/api/v1/config", api.config, name="api_config"),
    path("webchat/api/v1/visitors", api.visitors, name="api_visitors"),
    path("webchat/api/v1/messages", api.messages, name="api_messages"),
    path("webchat/archivo/<str:token>", views.attachment, name="attachment"),
]
