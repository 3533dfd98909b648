from django.urls import path

from campaigns import tracking_views, views

app_name = "campaigns"
urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("nueva/", views.campaign_create, name="create"),
    path("configuracion/", views.campaign_settings, name="settings"),
    path("audiencia", views.audience_preview, name="audience_preview"),
    path("vista-previa", views.message_preview, name="message_preview"),
    path("vista-previa/correo", views.email_frame, name="email_frame"),
    path("plantilla", views.template_fields, name="template_fields"),
    path("<int:campaign_id>/", views.campaign_detail, name="detail"),
    path("<int:campaign_id>/editar/", views.campaign_edit, name="edit"),
    path("<int:campaign_id>/resultados", views.campaign_results, name="results"),
    path("<int:campaign_id>/informe.csv", views.campaign_report, name="report"),
    path("<int:campaign_id>/prueba", views.campaign_test_send, name="test_send"),
    path("<int:campaign_id>/lanzar", views.campaign_launch, name="launch"),
    path("<int:campaign_id>/pausar", views.campaign_pause, name="pause"),
    path("<int:campaign_id>/reanudar", views.campaign_resume, name="resume"),
    path("<int:campaign_id>/cancelar", views.campaign_cancel, name="cancel"),
    path("<int:campaign_id>/volver-a-borrador", views.campaign_unschedule, name="unschedule"),
    # --- public tracking links (campaigns.tracking_views) ---
    path("r/<str:token>/", tracking_views.click, name="click"),
    path("r/<str:token>/<int:n>/", tracking_views.click_n, name="click_n"),
    path("r/<str:token>/o.gif", tracking_views.open_pixel, name="open"),
    path("r/<str:token>/baja/", tracking_views.unsubscribe, name="unsubscribe"),
]
