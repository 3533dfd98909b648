

def test_the_api_offers_every_rule_event_the_editor_does():
    # the schema's literal and the rules' declared events must not drift apart
    from typing import get_args

    from automation.api import RuleEventCode
    from automation.choices import RuleEvent

    assert set(get_args(RuleEventCode)) == set(RuleEvent.values)
