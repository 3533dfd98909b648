from django.urls import path

from bots import views

app_name = "bots"
urlpatterns = [
    path("", views.flow_list, name="list"),
    path("nuevo/", views.flow_create, name="create"),
    path("importar", views.flow_import, name="import"),
    path("<int:flow_id>/", views.flow_editor, name="editor"),
    path("<int:flow_id>/diagrama", views.flow_save, name="save"),
    path("<int:flow_id>/publicar", views.flow_publish, name="publish"),
    path("<int:flow_id>/ajustes", views.flow_settings, name="settings"),
    path("<int:flow_id>/probar", views.flow_simulate, name="simulate"),
    path("<int:flow_id>/exportar", views.flow_export, name="export"),
    path("<int:flow_id>/borrar", views.flow_delete, name="delete"),
    path("<int:flow_id>/estadisticas/", views.flow_stats, name="stats"),
]
