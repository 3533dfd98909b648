from django.urls import path

from teamchat import views

app_name = "teamchat"

urlpatterns = [
    path("", views.home, name="home"),
    path("nuevo-canal", views.new_channel, name="new_channel"),
    path("mensaje-directo", views.new_direct, name="new_direct"),
    path("explorar", views.browse, name="browse"),
    path("buscar", views.search_page, name="search"),
    path("no-leidos", views.unread, name="unread"),
    path("configuracion", views.chat_settings, name="chat_settings"),
    path("c/<int:channel_id>/", views.channel_page, name="channel"),
    path("c/<int:channel_id>/mensajes", views.channel_messages, name="messages"),
    path("c/<int:channel_id>/enviar", views.post_message, name="post"),
    path("c/<int:channel_id>/leido", views.mark_read, name="read"),
    path("c/<int:channel_id>/no-leido", views.mark_unread, name="unread_from"),
    path("c/<int:channel_id>/unirse", views.join, name="join"),
    path("c/<int:channel_id>/salir", views.leave, name="leave"),
    path("c/<int:channel_id>/ajustes", views.channel_settings, name="settings"),
    path("m/<int:msg_id>/", views.message_row, name="message"),
    path("m/<int:msg_id>/editar", views.edit_message, name="edit"),
    path("m/<int:msg_id>/borrar", views.delete_message, name="delete"),
    path("m/<int:msg_id>/reaccion", views.react, name="react"),
    path("m/<int:msg_id>/hilo", views.thread, name="thread"),
    path("m/<int:msg_id>/ediciones", views.message_history, name="history"),
    path("m/<int:msg_id>/archivo/<int:index>", views.message_file, name="file"),
]
