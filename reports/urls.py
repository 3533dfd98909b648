from django.urls import URLPattern, URLResolver, path

from reports import views

app_name = "reports"
urlpatterns: list[URLPattern | URLResolver] = [
    path("reportes/leads/", views.leadflow, name="leadflow"),
]
