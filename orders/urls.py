from django.urls import path

from orders import views

app_name = "orders"
urlpatterns = [
    path("orders/", views.order_list, name="list"),
    path("orders/export.csv", views.order_export, name="export"),
    path("orders/<int:order_id>/", views.order_detail, name="detail"),
    path("orders/<int:order_id>/cancel", views.order_cancel, name="cancel"),
    path("orders/<int:order_id>/dispatch", views.order_dispatch, name="dispatch"),
    path("orders/<int:order_id>/confirm", views.confirm, name="confirm"),
    path("orders/<int:order_id>/lines", views.draft_lines, name="draft_lines"),
    path("orders/draft/add", views.draft_add, name="draft_add"),
]
