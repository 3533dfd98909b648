from django.urls import path

from catalog import views

app_name = "catalog"
urlpatterns = [
    path("catalog/search", views.product_search, name="search"),
    path("catalog/products/", views.product_list, name="product_list"),
    path("catalog/products/new/", views.product_create, name="product_create"),
    path("catalog/products/export.csv", views.product_export, name="product_export"),
    path("catalog/products/import/", views.product_import, name="product_import"),
    path("catalog/products/<int:product_id>/", views.product_detail, name="product_detail"),
    path("catalog/products/<int:product_id>/adjust", views.product_adjust, name="product_adjust"),
    path("catalog/products/<int:product_id>/receive", views.product_receive, name="product_receive"),
]
