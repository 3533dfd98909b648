"""The options a message offers the customer (a bot's question: `bots` writes them with
inbox.actions.do_send_automatic), read the same way by every channel and by the agent's timeline.

The contract, in the message's `meta`:

    meta["choices"] = {"options": [{"id": "pedido", "title": "Estado de mi pedido", "description": ""}, …],  # 1..10
                       "button": "Ver opciones"}  # WhatsApp's list button, used with more than 3 options
    meta["bot"] = {"flow": <id>, "name": "<flow name>", "step": "<step id>"}

`body` is the question only; each channel shows the options its own way (WhatsApp reply buttons or a list, web
chat buttons under the bubble, email numbered lines the bot writes into the body itself). The customer's answer
comes back with `meta["reply"] = {"kind": "button_reply"|"list_reply", "id", "title", "description"}`.

Stored meta is data written by another app: everything here tolerates a missing or malformed part and drops it,
so a bad option costs that option, never the message.
"""

from __future__ import annotations

from typing import Any, Final, TypedDict

MAX_OPTIONS: Final = 10  # WhatsApp's list holds 10 rows; the bot's `ask` step allows no more
ID_MAX: Final = 256
TITLE_MAX: Final = 100  # stored titles: the channels clip further to what each one shows
DESCRIPTION_MAX: Final = 200
BUTTON_MAX: Final = 40


class Choice(TypedDict):
    id: str
    title: str
    description: str


def _text(value: Any, limit: int) -> str:
    return " ".join(str(value).split())[:limit] if isinstance(value, str | int) and not isinstance(value, bool) else ""


def offered_choices(meta: Any) -> list[Choice]:
    """The options of `meta["choices"]`, cleaned: each with an id and a title (single-line, bounded), ids unique
    (a repeated id is dropped: the answer could not say which one was meant), at most MAX_OPTIONS."""
    block = meta.get("choices") if isinstance(meta, dict) else None
    raw = block.get("options") if isinstance(block, dict) else None
    if not isinstance(raw, list):
        return []
    found: list[Choice] = []
    seen: set[str] = set()
    for option in raw:
        if not isinstance(option, dict):
            continue
        choice_id, title = _text(option.get("id"), ID_MAX), _text(option.get("title"), TITLE_MAX)
        if not choice_id or not title or choice_id in seen:
            continue
        seen.add(choice_id)
        found.append(Choice(id=choice_id, title=title, description=_text(option.get("description"), DESCRIPTION_MAX)))
        if len(found) == MAX_OPTIONS:
            break
    return found


def choices_button(meta: Any) -> str:
    """The label the bot gave the list's button ("" when none: the channel uses its own default)."""
    block = meta.get("choices") if isinstance(meta, dict) else None
    return _text(block.get("button"), BUTTON_MAX) if isinstance(block, dict) else ""


def bot_name(meta: Any) -> str | None:
    """The name of the bot flow that wrote the message (`meta["bot"]["name"]`), None when a bot did not."""
    source = meta.get("bot") if isinstance(meta, dict) else None
    if not isinstance(source, dict):
        return None
    return _text(source.get("name"), 100) or _text(source.get("flow"), 40) or None
