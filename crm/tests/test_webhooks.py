from __future__ import annotations

from decimal import Decimal

import pytest

from crm.tests.payloads import body, lead_item
from crm.webhooks import WebhookParseError, parse_form, parse_kommo_webhook, peek_account


def test_status_change_with_tags_and_custom_fields_including_a_date_without_value():
    # given the contract's status_lead sample
    raw = body(lead_item("status", 0, lead_id=15318175, status_id=67548619, old_status_id=67548607, tags=["vip"]))
    # when parsed
    hook = parse_kommo_webhook(raw)
    # then the account, the lead, its tags and both custom fields are read, all values as Kommo sent them
    assert (hook.subdomain, hook.account_id) == ("mycompany", 32720107)
    (lead,) = hook.leads
    assert (lead.action, lead.id, lead.status_id, lead.old_status_id) == ("status", 15318175, 67548619, 67548607)
    assert lead.price == Decimal(1000) and lead.updated_at == 1726572758 and lead.tags == ["vip"]
    select, date = lead.custom_fields
    assert select.values == [{"value": "2", "enum": "908107"}]
    assert date.name == "Date" and date.values == [{"value": "1725915600"}]


def test_several_leads_and_actions_in_one_post():
    raw = body(lead_item("add", 0, lead_id=1, status_id=10), lead_item("add", 1, lead_id=2, status_id=10),
               lead_item("update", 0, lead_id=3, status_id=11), lead_item("delete", 0, lead_id=4, status_id=12))
    hook = parse_kommo_webhook(raw)
    assert [(lead.action, lead.id) for lead in hook.leads] == [("add", 1), ("add", 2), ("update", 3), ("delete", 4)]


def test_unicode_names_with_accents_and_enye():
    raw = body(lead_item("add", 0, lead_id=1, status_id=10, name="Pedido de Ñandú Peña — café ☕"))
    assert parse_kommo_webhook(raw).leads[0].name == "Pedido de Ñandú Peña — café ☕"


def test_other_entities_are_reported_as_ignored_not_errors():
    raw = body([("contacts[update][0][id]", "10971465"), ("contacts[update][0][type]", "contact")])
    hook = parse_kommo_webhook(raw)
    assert hook.leads == [] and hook.ignored == ["contacts[update]"]


def test_missing_old_pipeline_and_optional_fields_are_tolerated():
    raw = body([("leads[delete][0][id]", "77"), ("leads[delete][0][status_id]", "143"),
                ("leads[delete][0][pipeline_id]", "1")])
    (lead,) = parse_kommo_webhook(raw).leads
    assert lead.id == 77 and lead.old_pipeline_id is None and lead.name == "" and lead.custom_fields == []


@pytest.mark.parametrize(("raw", "reason"), [
    ("", "missing account"),
    ("{\"leads\": []}", "not a form-encoded body"),
    (body(lead_item("add", 0, lead_id=1, status_id=1), account=[]), "missing account"),
    ("leads[add][0][id]=1&leads[add][0][id][x]=2&account[id]=1", "conflicts"),
    ("leads[add][0]]=1&account[id]=1", "malformed key"),
    (body([("leads[add][0][name]", "sin id")]), "without a numeric id"),
])
def test_bad_bodies_give_a_clear_reason(raw, reason):
    with pytest.raises(WebhookParseError) as exc:
        parse_kommo_webhook(raw)
    assert reason in str(exc.value)


def test_parse_form_builds_lists_from_numeric_keys():
    tree = parse_form("a[0][b]=1&a[1][b]=2&c[x]=3")
    assert tree == {"a": [{"b": "1"}, {"b": "2"}], "c": {"x": "3"}}


def test_peek_account_reads_only_the_account_block():
    assert peek_account(body(lead_item("add", 0, lead_id=1, status_id=1))) == ("mycompany", 32720107)
