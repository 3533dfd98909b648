from __future__ import annotations

import factory

from connectors.webchat.models import ChatSite, ContactRequirement, Visitor
from connectors.webchat.tokens import sign_visitor


class ChatSiteFactory(factory.django.DjangoModelFactory[ChatSite]):
    class Meta:
        model = ChatSite

    name = factory.Sequence(lambda n: f"Tienda {n}")
    allowed_origins = factory.LazyFunction(lambda: ["https://tienda.example"])
    require_name = True
    require_contact = ContactRequirement.NONE


class VisitorFactory(factory.django.DjangoModelFactory[Visitor]):
    class Meta:
        model = Visitor

    site = factory.SubFactory(ChatSiteFactory)
    name = "Lucía Pérez"


def token_for(visitor: Visitor) -> str:
    return sign_visitor(site_id=visitor.site_id, visitor_key=visitor.key)
