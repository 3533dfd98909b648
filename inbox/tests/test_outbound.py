"""Connector hooks: senders and guards, and the suppressed mode used by demo data and history import."""

from __future__ import annotations

import pytest

from core.errors import ActionError
from inbox import actions, outbound
from inbox.choices import DeliveryStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def refusing_channel():
    """A channel ("phone") whose connector refuses every reply and records every delivery."""
    delivered: list[int] = []

    def guard(_c, _body, _meta):
        raise ActionError("closed_window", "refused")

    outbound.register_guard("phone", guard)
    outbound.register_sender("phone", delivered.append)
    yield delivered
    outbound._GUARDS.pop("phone", None)
    outbound._SENDERS.pop("phone", None)


def test_guard_refuses_before_anything_is_stored(refusing_channel, agent):
    # given a phone conversation whose connector refuses replies
    c, _m, _ = actions.do_receive_inbound(channel="phone", body="hola", customer_name="Ana", phones=["+573001112233"])
    # when the agent replies / then the guard's refusal reaches them and no message is stored
    with pytest.raises(ActionError, match="refused"):
        actions.check_send_reply(agent, c.pk, body="respuesta")
    assert not c.messages.filter(kind="outbound").exists()


def test_suppressed_replies_are_stored_as_sent_and_never_delivered(refusing_channel, agent,
                                                                  django_capture_on_commit_callbacks):
    c, _m, _ = actions.do_receive_inbound(channel="phone", body="hola", customer_name="Ana", phones=["+573001112233"])
    # when a reply is written in suppressed mode (demo data, imported history)
    with outbound.suppressed(), django_capture_on_commit_callbacks(execute=True):
        message = actions.check_send_reply(agent, c.pk, body="respuesta del pasado")
    # then it is stored as sent, with no guard and no delivery
    assert message.delivery_status == DeliveryStatus.SENT and refusing_channel == []
