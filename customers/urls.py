from django.urls import path

from customers import views

app_name = "customers"
urlpatterns = [
    path("customers/duplicates/", views.duplicates, name="duplicates"),
    path("customers/duplicates/merge/", views.merge, name="merge"),
    path("customers/lists/", views.lists, name="lists"),
]
