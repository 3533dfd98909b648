from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.utils import translation


def test_english_catalog_is_complete():
    # every Spanish source string has an English translation and none is fuzzy
    result = subprocess.run([sys.executable, "scripts/check_translations.py"], cwd=Path(settings.BASE_DIR),
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compiled_catalog_is_fresh():
    base = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES"
    assert (base / "django.mo").stat().st_mtime >= (base / "django.po").stat().st_mtime - 1, "run make messages"
    with translation.override("en"):
        assert translation.gettext("Equipo en vivo") == "Live team"
    with translation.override("es"):
        assert translation.gettext("Equipo en vivo") == "Equipo en vivo"
