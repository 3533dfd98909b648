from django.urls import path

from automation import views

app_name = "automation"
urlpatterns = [
    path("respuestas-rapidas/", views.quick_reply_list, name="quick_replies"),
    path("respuestas-rapidas/nueva", views.quick_reply_create, name="quick_reply_create"),
    path("respuestas-rapidas/<int:quick_reply_id>/", views.quick_reply_edit, name="quick_reply_edit"),
    path("respuestas-rapidas/<int:quick_reply_id>/borrar", views.quick_reply_delete, name="quick_reply_delete"),
    path("respuestas-rapidas/selector/<int:conversation_id>", views.picker, name="picker"),
    path("respuestas-rapidas/<int:quick_reply_id>/usar/<int:conversation_id>", views.use, name="use"),
    path("niveles-de-servicio/", views.sla_policies, name="sla_policies"),
    path("programados/<int:conversation_id>/nuevo", views.schedule, name="schedule"),
    path("programados/<int:conversation_id>/plantillas", views.schedule_templates, name="schedule_templates"),
    path("programados/<int:scheduled_id>/editar", views.scheduled_update, name="scheduled_update"),
    path("programados/<int:scheduled_id>/cancelar", views.scheduled_cancel, name="scheduled_cancel"),
]
