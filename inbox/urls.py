from django.urls import path

from inbox import views

app_name = "inbox"
urlpatterns = [
    path("inbox/", views.conversation_list, name="list"),
    path("inbox/<int:conversation_id>/", views.conversation_detail, name="detail"),
    path("inbox/<int:conversation_id>/messages", views.post_message, name="message"),
    path("inbox/<int:conversation_id>/take", views.take, name="take"),
    path("inbox/<int:conversation_id>/close", views.close, name="close"),
    path("inbox/<int:conversation_id>/transfer", views.transfer, name="transfer"),
    path("inbox/<int:conversation_id>/escalate", views.escalate, name="escalate"),
    path("inbox/<int:conversation_id>/tasks", views.add_task, name="task"),
]
