from django.urls import path

from automation import views

app_name = "automation"
urlpatterns = [
    path("respuestas-rapidas/", views.quick_reply_list, name="quick_replies"),
    path("respuestas-rapidas/nueva", views.quick_reply_create, name="quick_reply_create"),
    path("respuestas-rapidas/<int:quick_reply_id>/", views.quick_reply_edit, name="quick_reply_edit"),
    path("respuestas-rapidas/<int:quick_reply_id>/borrar", views.quick_reply_delete, name="quick_reply_delete"),
    path("respuestas-rapidas/<int:quick_reply_id>/archivo", views.quick_reply_file, name="quick_reply_file"),
    path("respuestas-rapidas/selector/<int:conversation_id>", views.picker, name="picker"),
    path("respuestas-rapidas/<int:quick_reply_id>/usar/<int:conversation_id>", views.use, name="use"),
    path("niveles-de-servicio/", views.sla_policies, name="sla_policies"),
    path("reglas/", views.rule_list, name="rules"),
    path("reglas/nueva", views.rule_create, name="rule_create"),
    path("reglas/probar", views.rule_test, name="rule_test"),
    path("reglas/<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path("reglas/<int:rule_id>/activar", views.rule_toggle, name="rule_toggle"),
    path("reglas/<int:rule_id>/borrar", views.rule_delete, name="rule_delete"),
    path("secuencias/", views.sequence_list, name="sequences"),
    path("secuencias/nueva", views.sequence_create, name="sequence_create"),
    path("secuencias/<int:sequence_id>/", views.sequence_edit, name="sequence_edit"),
    path("secuencias/<int:sequence_id>/borrar", views.sequence_delete, name="sequence_delete"),
    path("secuencias/en-curso/<int:enrollment_id>/detener", views.enrollment_stop, name="enrollment_stop"),
    path("programados/<int:conversation_id>/nuevo", views.schedule, name="schedule"),
    path("programados/<int:conversation_id>/plantillas", views.schedule_templates, name="schedule_templates"),
    path("programados/<int:scheduled_id>/editar", views.scheduled_update, name="scheduled_update"),
    path("programados/<int:scheduled_id>/cancelar", views.scheduled_cancel, name="scheduled_cancel"),
]
