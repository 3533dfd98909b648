from django.urls import URLPattern, URLResolver, path

from reports import views

app_name = "reports"
urlpatterns: list[URLPattern | URLResolver] = [
    path("reportes/", views.dashboard, name="dashboard"),
    path("reportes/leads/", views.leadflow, name="leadflow"),
    path("reportes/campanas/", views.campaigns_report, name="campaigns"),
    path("reportes/bot/", views.bots_report, name="bots"),
    path("reportes/importar/", views.history_import, name="history_import"),
    path("reportes/importar/<int:job_id>/", views.import_job, name="import_job"),
]
