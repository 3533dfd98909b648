"""Issue 12: `manage.py check --deploy` is clean with the production settings docs/deployment.md lists, and the
HTTPS switches (redirect, HSTS, secure cookies) come from the environment."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.checks import WARNING, run_checks
from django.test import override_settings

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT_DOC = REPO / "docs" / "deployment.md"

# The HTTPS and header switches exactly as docs/deployment.md ("Production security settings") writes them.
DOCUMENTED_SWITCHES = {
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
}
PRODUCTION_ENV = {
    **DOCUMENTED_SWITCHES,
    "ALLOWED_HOSTS": "centralita.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://centralita.example.com",
    "SITE_URL": "https://centralita.example.com",
    "TRUSTED_PROXIES": "127.0.0.1,::1",
    "SMTP_HOST": "smtp.example.com",
}
# Whatever the test run itself sets (test settings module, development mode, Playwright's async escape hatch)
# stays out of the production process.
NOT_INHERITED = {"DJANGO_SETTINGS_MODULE", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "SESSION_COOKIE_SECURE",
                 "CSRF_COOKIE_SECURE", "CSP_REPORT_ONLY", "SMTP_HOST", *DOCUMENTED_SWITCHES}


def _check_deploy(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    secrets_env = {"SECRET_KEY": secrets.token_urlsafe(50), "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**base, "DATA_DIR": str(tmp_path), **secrets_env, **env})


def test_check_deploy_is_clean_with_the_documented_production_environment(tmp_path):
    # given the production environment of docs/deployment.md / when Django's deployment checks run
    result = _check_deploy(tmp_path, **PRODUCTION_ENV)
    # then there is not one warning, and nothing was silenced to get there
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_warns_when_the_https_switches_are_left_off(tmp_path):
    # given production without the documented switches / when checked / then HSTS and the redirect are reported
    result = _check_deploy(tmp_path, **{k: v for k, v in PRODUCTION_ENV.items() if k not in DOCUMENTED_SWITCHES})
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W008" in result.stderr


def test_the_deployment_guide_lists_the_switches_the_check_needs():
    text = DEPLOYMENT_DOC.read_text()
    for name, value in DOCUMENTED_SWITCHES.items():
        assert f"{name}={value}" in text, name
    assert "manage.py check --deploy" in text


PRODUCTION_SETTINGS: dict[str, Any] = {
    "DEBUG": False,
    "SECRET_KEY": "k" + secrets.token_urlsafe(60),
    "ALLOWED_HOSTS": ["centralita.example.com"],
    "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 31536000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_HSTS_PRELOAD": True,
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    "MAILERS": {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                            "OPTIONS": {"host": "smtp.example.com"}}},
}


def _problems() -> list[str]:
    return sorted(m.id or "" for m in run_checks(include_deployment_checks=True) if m.level >= WARNING)


@pytest.mark.django_db  # the model checks ask SQLite whether it supports JSON fields
def test_deployment_checks_pass_in_process_with_production_like_settings(monkeypatch: pytest.MonkeyPatch):
    # given production settings over the real ones, and none of the test run's environment escape hatches
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)
    with override_settings(**PRODUCTION_SETTINGS):
        # when every check runs, deployment checks included / then not one warning or error
        assert _problems() == []
    # and the same checks do see a setting left at its development value
    with override_settings(**{**PRODUCTION_SETTINGS, "SECURE_HSTS_SECONDS": 0, "CSRF_COOKIE_SECURE": False}):
        assert _problems() == ["security.W004", "security.W016"]


def test_the_https_switches_are_read_from_the_environment(tmp_path):
    # given production with the documented switches / when settings load in a fresh interpreter
    probe = ("from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, "
             "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
             "s.SECURE_REDIRECT_EXEMPT, bool(s.SECURE_CSP), bool(s.SECURE_CSP_REPORT_ONLY))")
    base = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}

    def load(**env: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {probe}"], cwd=REPO, capture_output=True,
            text=True, check=True, timeout=60,
            env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", "DATA_DIR": str(tmp_path), **env},
        ).stdout.strip().splitlines()[-1]

    # then production gets them; development (DEBUG=1) keeps plain HTTP working, and CSP_REPORT_ONLY only reports
    assert load(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
                **PRODUCTION_ENV) == "True 31536000 True True True True ['^healthz$', '^readyz$'] True False"
    assert load(DEBUG="1") == "False 0 False False False False ['^healthz$', '^readyz$'] True False"
    assert load(DEBUG="1", CSP_REPORT_ONLY="1").endswith("False True")
