"""Demo chat: the teams' channels with a morning's talk, a thread, reactions, a linked order shown as a card, a
direct message between two agents and a private channel of the supervisors (seed_demo's SEEDERS, from
TeamchatConfig.ready())."""

from __future__ import annotations

import random

from django.core.management.base import OutputWrapper
from django.db import transaction

from accounts.models import User
from teamchat import actions
from teamchat.choices import ChannelKind
from teamchat.models import Channel, Message


@transaction.atomic
def seed_chat(rng: random.Random, scale: str, stdout: OutputWrapper) -> None:
    if Message.objects.exists():
        return
    actions.do_sync_team_channels()
    supervisor = User.objects.filter(role="supervisor", is_active=True).order_by("id").first()
    agents = list(User.objects.filter(role="agente", is_active=True).order_by("username")[:4])
    if supervisor is None or len(agents) < 2:
        return
    team_channel = Channel.objects.filter(kind=ChannelKind.TEAM, memberships__user=agents[0]).first()
    general = actions.check_create_channel(
        supervisor, name="General", topic="Novedades del día, turnos y dudas rápidas de todo el equipo",
        member_ids=[u.pk for u in User.objects.filter(is_active=True).exclude(pk=supervisor.pk)])
    opening = actions.check_post_message(
        supervisor, general.pk, body="¡Buenos días, equipo! Hoy arranca la promoción de **televisores**: "
                                     "revisen el stock antes de confirmar pedidos. @canal")
    actions.check_toggle_reaction(agents[0], opening.pk, emoji="👍")
    actions.check_toggle_reaction(agents[1], opening.pk, emoji="👍")
    question = actions.check_post_message(agents[0], general.pk,
                                          body="¿Alguien sabe si el envío a Medellín sigue en 48 horas?")
    actions.check_post_message(agents[1], general.pk, body="Sí, 48 horas hábiles con la transportadora de siempre.",
                               parent_id=question.pk)
    actions.check_post_message(supervisor, general.pk, body="Confirmado. Los sábados no despachan.",
                               parent_id=question.pk)
    if team_channel is not None:
        actions.check_post_message(agents[0], team_channel.pk,
                                   body=f"@{agents[1].username} ¿me cubres el almuerzo de 1 a 2?")
    direct = actions.check_open_direct(agents[0], user_ids=[agents[1].pk])
    actions.check_post_message(agents[1], direct.pk,
                               body="Te paso el cliente de la devolución cuando termine la llamada.")
    leads = actions.check_create_channel(supervisor, name="Coordinación", private=True,
                                         topic="Solo supervisores y gerencia",
                                         member_ids=list(User.objects.filter(role__in=["gerente", "admin"])
                                                         .values_list("pk", flat=True)))
    actions.check_post_message(supervisor, leads.pk, body="Esta semana reviso los cierres sin motivo del turno tarde.")
    stdout.write("teamchat: team channels, #General with a thread, a direct message and a private channel")
