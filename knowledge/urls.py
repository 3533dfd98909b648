from django.urls import path

from knowledge import views

app_name = "knowledge"
urlpatterns = [
    path("", views.article_list, name="list"),
    path("nuevo/", views.article_create, name="create"),
    path("vista-previa", views.preview, name="preview"),
    path("categorias/", views.categories, name="categories"),
    path("categorias/<int:category_id>/borrar", views.category_delete, name="category_delete"),
    path("para-respuesta/", views.picker, name="picker"),
    path("<int:article_id>/", views.article_detail, name="detail"),
    path("<int:article_id>/editar/", views.article_edit, name="edit"),
    path("<int:article_id>/publicar", views.publish, name="publish"),
    path("<int:article_id>/despublicar", views.unpublish, name="unpublish"),
    path("<int:article_id>/borrar", views.delete, name="delete"),
    path("<int:article_id>/para-respuesta", views.for_reply, name="for_reply"),
]
