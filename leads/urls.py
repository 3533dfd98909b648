from django.urls import path

from leads import views

app_name = "leads"
urlpatterns = [
    path("call-center-queue", views.queue, name="queue"),
    path("call-center-queue/next", views.next_lead, name="next"),
    path("call-center-queue/leads/<int:lead_id>/", views.detail, name="detail"),
    path("call-center-queue/leads/<int:lead_id>/close", views.close, name="close"),
    path("call-center-queue/leads/<int:lead_id>/release", views.release, name="release"),
    path("call-center-queue/leads/<int:lead_id>/reassign", views.reassign, name="reassign"),
    path("call-center-queue/leads/<int:lead_id>/reopen", views.reopen, name="reopen"),
    path("call-center-queue/leads/<int:lead_id>/people", views.people, name="people"),
    path("call-center-queue/predefined-notes", views.templates, name="templates"),
    path("call-center-queue/settings", views.queue_settings, name="settings"),
]
