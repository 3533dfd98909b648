"""The SMS connector's fixtures (the fake Twilio on a loopback port, an account connected to it) for SMS campaigns."""

from connectors.sms.tests.conftest import fake_sms, sms_account  # noqa: F401 - fixtures, registered by import
