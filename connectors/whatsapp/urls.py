from django.urls import URLPattern, URLResolver

app_name = "whatsapp"
urlpatterns: list[URLPattern | URLResolver] = []
