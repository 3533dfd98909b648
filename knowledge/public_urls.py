"""The public help pages (no login): /ayuda/<es|en>/ and /ayuda/<es|en>/<slug>/, on when KNOWLEDGE_PUBLIC_HELP."""

from django.urls import path

from knowledge import views

app_name = "help"
urlpatterns = [
    path("<slug:lang>/", views.help_index, name="index"),
    path("<slug:lang>/<slug:slug>/", views.help_article, name="article"),
]
