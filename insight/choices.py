"""Choices of insight: the outcome the classifier gives a call (issue 20).

It is the outcome operators already pick for a lead note (`leads.choices.Outcome`: positivo, negativo, parcial,
no clasificado), not a second vocabulary: the classifier's answer is compared with, and later stored beside, the
operator's own, and two enums with the same values would drift apart. insight sits above leads (import-linter), so
it imports leads' choices; docs/ai-labelling-guide.md says what each value means.
"""

from __future__ import annotations

from leads.choices import Outcome

__all__ = ["Outcome"]
