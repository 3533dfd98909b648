from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.CentralitaLoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("password/", views.password_change, name="password_change"),
    path("profile/", views.profile, name="profile"),
    path("profile/tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("availability/", views.set_availability, name="set_availability"),
    path("team/presence/", views.presence, name="presence"),
    path("settings/users/", views.user_list, name="user_list"),
    path("settings/users/new/", views.user_create, name="user_create"),
    path("settings/users/<int:user_id>/", views.user_edit, name="user_edit"),
    path("settings/teams/", views.team_list, name="team_list"),
    path("settings/teams/<int:team_id>/", views.team_edit, name="team_edit"),
    path("settings/holidays/<int:holiday_id>/delete/", views.holiday_delete, name="holiday_delete"),
]
