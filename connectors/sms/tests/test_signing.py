"""X-Twilio-Signature against Twilio's published examples.

Sources: twilio.com/docs/usage/security#validating-requests (token 12345, URL
https://mycompany.com/myapp.php?foo=1&bar=2, the CallSid/Caller/Digits/From/To parameters, signature
RSOYDt4T1cUTdK1PDd93/VVr8B8=); the same vectors, plus repeated parameters and the port variants, are in twilio-python
tests/unit/test_request_validator.py and twilio-php docs/usage/validation.rst."""

from __future__ import annotations

from connectors.sms.signing import compute, is_valid, signed_text, url_variants
from fakes.sms import sign as fake_sign

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"), ("Digits", "1234"),
          ("From", "+14158675309"), ("To", "+18005551212")]
EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twilio_documented_example():
    assert signed_text(URL, PARAMS) == ("https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDE"
                                        "Caller+14158675309Digits1234From+14158675309To+18005551212")
    assert compute(TOKEN, URL, PARAMS) == EXPECTED
    assert is_valid(TOKEN, URL, PARAMS, EXPECTED)


def test_parameter_order_does_not_matter_but_every_byte_does():
    assert is_valid(TOKEN, URL, list(reversed(PARAMS)), EXPECTED)
    assert not is_valid(TOKEN, URL, [*PARAMS[:-1], ("To", "+18005551213")], EXPECTED)
    assert not is_valid(TOKEN, URL.replace("foo=1", "foo=2"), PARAMS, EXPECTED)
    assert not is_valid("54321", URL, PARAMS, EXPECTED)
    assert not is_valid(TOKEN, URL, PARAMS, "")
    assert not is_valid("", URL, PARAMS, EXPECTED)


def test_repeated_parameters_contribute_each_value_sorted():
    # twilio-python's duplicate-parameter vector
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert compute(TOKEN, URL, params) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_urls_signed_with_or_without_the_default_port_both_validate():
    # twilio-python's port vectors: Twilio has signed https URLs with :443 and http URLs with :80 added
    assert is_valid(TOKEN, URL, PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w=")
    assert is_valid(TOKEN, URL.replace("https", "http"), PARAMS, "0ZXoZLH/DfblKGATFgpif+LLRf4=")
    assert is_valid(TOKEN, URL.replace(".com", ".com:1234"), PARAMS, EXPECTED)
    assert url_variants("https://a.example/x") == ["https://a.example/x", "https://a.example:443/x"]


def test_the_fake_signs_exactly_as_we_verify():
    assert fake_sign(TOKEN, URL, PARAMS) == EXPECTED
    form = [("Body", "¿Me llamas? 😀"), ("From", "+573001234567"), ("MessageSid", "SM" + "a" * 32)]
    assert is_valid("tok", "https://c.example/integrations/sms/1/inbound/", form,
                    fake_sign("tok", "https://c.example/integrations/sms/1/inbound/", form))
