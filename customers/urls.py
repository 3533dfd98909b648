from django.urls import path

from customers import import_views, segment_views, views

app_name = "customers"
urlpatterns = [
    path("clientes/", views.customer_list, name="list"),
    path("clientes/nuevo/", views.customer_create, name="create"),
    path("clientes/conteo", views.customer_count, name="count"),
    path("clientes/exportar.csv", import_views.export_csv, name="export"),
    path("clientes/importar/", import_views.import_customers, name="import"),
    path("clientes/segmentos/", segment_views.segment_list, name="segments"),
    path("clientes/segmentos/nuevo/", segment_views.segment_edit, name="segment_create"),
    path("clientes/segmentos/vista-previa", segment_views.segment_preview, name="segment_preview"),
    path("clientes/segmentos/<int:segment_id>/", segment_views.segment_edit, name="segment_edit"),
    path("clientes/segmentos/<int:segment_id>/borrar", segment_views.segment_delete, name="segment_delete"),
    path("clientes/<int:customer_id>/", views.customer_detail, name="detail"),
    path("clientes/<int:customer_id>/historial", views.customer_timeline_page, name="timeline_page"),
    path("clientes/<int:customer_id>/secciones/<slug:name>", views.customer_section_page, name="section_page"),
    path("clientes/<int:customer_id>/editar/", views.customer_edit, name="edit"),
    path("clientes/<int:customer_id>/consentimiento/", views.consent, name="consent"),
    path("customers/duplicates/", views.duplicates, name="duplicates"),
    path("customers/duplicates/merge/", views.merge, name="merge"),
    path("customers/lists/", views.lists, name="lists"),
]
