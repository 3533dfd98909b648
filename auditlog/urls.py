from django.urls import URLPattern, URLResolver, path

from auditlog import views

app_name = "auditlog"
urlpatterns: list[URLPattern | URLResolver] = [
    path("audit/", views.audit, name="audit"),
]
