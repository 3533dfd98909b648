from django.urls import path

from announcements import views

app_name = "announcements"

urlpatterns = [
    path("", views.announcement_list, name="list"),
    path("nuevo/", views.create, name="create"),
    path("vista-previa", views.preview, name="preview"),
    path("aviso", views.banner, name="banner"),
    path("<int:announcement_id>/", views.detail, name="detail"),
    path("<int:announcement_id>/editar/", views.edit, name="edit"),
    path("<int:announcement_id>/imagen", views.image, name="image"),
    path("<int:announcement_id>/confirmaciones", views.acks, name="acks"),
    path("<int:announcement_id>/confirmar", views.acknowledge, name="ack"),
    path("<int:announcement_id>/cerrar", views.dismiss, name="dismiss"),
    path("<int:announcement_id>/publicar", views.publish, name="publish"),
    path("<int:announcement_id>/desprogramar", views.unschedule, name="unschedule"),
    path("<int:announcement_id>/archivar", views.archive, name="archive"),
    path("<int:announcement_id>/borrar", views.delete, name="delete"),
    path("<int:announcement_id>/recordar", views.remind, name="remind"),
    path("<int:announcement_id>/fijar", views.pin, name="pin"),
]
