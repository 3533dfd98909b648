from django.urls import path

from inbox import admin_views, review, saved_views, views

app_name = "inbox"
urlpatterns = [
    path("inbox/", views.conversation_list, name="list"),
    path("inbox/<int:conversation_id>/", views.conversation_detail, name="detail"),
    path("inbox/<int:conversation_id>/messages", views.post_message, name="message"),
    path("inbox/<int:conversation_id>/messages/<int:message_id>/retry", views.retry_delivery,
         name="retry_delivery"),
    path("inbox/<int:conversation_id>/take", views.take, name="take"),
    path("inbox/<int:conversation_id>/close", views.close, name="close"),
    path("inbox/<int:conversation_id>/classify", views.classify, name="classify"),
    path("inbox/<int:conversation_id>/transfer", views.transfer, name="transfer"),
    path("inbox/<int:conversation_id>/escalate", views.escalate, name="escalate"),
    path("inbox/<int:conversation_id>/tasks", views.add_task, name="task"),
    path("inbox/<int:conversation_id>/people", views.people, name="people"),
    path("inbox/<int:conversation_id>/close-form", views.close_form, name="close_form"),
    path("inbox/<int:conversation_id>/priority", views.priority, name="priority"),
    path("inbox/<int:conversation_id>/tags", views.tags, name="tags"),
    path("inbox/<int:conversation_id>/associations", views.associations, name="associations"),
    path("inbox/<int:conversation_id>/handled-outside", views.handled_outside, name="handled_outside"),
    path("inbox/tasks/<int:task_id>/status", views.task_status, name="task_status"),
    path("inbox/counts", views.conversation_counts, name="counts"),
    path("inbox/people", views.people_any, name="people_any"),
    path("inbox/bulk", views.bulk_action, name="bulk"),
    path("inbox/attachments/<int:inbound_id>/<int:index>", views.attachment, name="attachment"),
    path("inbox/review/", review.closure_review, name="review"),
    path("inbox/review/verdict", review.review_verdict, name="review_verdict"),
    path("inbox/saved-views/", saved_views.save_view, name="save_view"),
    path("inbox/saved-views/<int:view_id>/delete", saved_views.delete_view, name="delete_view"),
    path("inbox/settings/", admin_views.inbox_list, name="admin_inboxes"),
    path("inbox/settings/<int:inbox_id>/", admin_views.inbox_edit, name="admin_inbox"),
]
