"""Imported history (reports.importer): past conversations written into the same table the live inbox uses.

Imported conversations live in the "Historial importado" inbox (so 100,000 old "activa" rows never flood the live
inbox or its pool) and describe the past: they emit no domain event, write no history row and notify nobody; the
importer rebuilds the dashboard's rollups once at the end. The bulk path writes exactly the rows the one-by-one path
writes (pinned by reports/tests/test_import_equivalence.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from core.bulk import bulk_insert
from inbox.choices import ConversationState
from inbox.models import HISTORY_INBOX, Conversation, Inbox

IMPORT_BATCH: Final = 5000
IMPORTED_FIELDS: Final = ("customer_id", "channel", "inbox_id", "assignee_id", "state", "created_at", "closed_at",
                          "last_activity_at", "first_response_at", "first_response_seconds", "resolution_seconds",
                          "outcome", "customer_state", "close_comment", "awaiting_reply")


@dataclass(frozen=True)
class ImportedConversation:
    """One past conversation, its customer and agent already resolved to ids. `state` is the file's: "activa",
    or a conversation state (resuelta, escalada)."""

    ref: str
    customer_id: int
    agent_id: int | None
    channel: str
    state: str
    started_at: datetime
    closed_at: datetime | None
    first_response_seconds: int | None
    resolution_seconds: int | None
    outcome: str
    customer_state: str
    comments: str


def history_inbox() -> Inbox:
    inbox, _created = Inbox.objects.get_or_create(
        code=HISTORY_INBOX, defaults={"name": "Historial importado", "auto_assign": False})
    return inbox


def imported_values(row: ImportedConversation, *, inbox_id: int) -> dict[str, Any]:
    """The conversation row for a past conversation: an "activa" one is pendiente with its agent (nueva without);
    its first response moment follows from the seconds the file gives; it waits for nobody."""
    state = row.state
    if state == "activa":
        state = ConversationState.PENDING.value if row.agent_id else ConversationState.NEW.value
    return {
        "customer_id": row.customer_id, "channel": row.channel, "inbox_id": inbox_id, "assignee_id": row.agent_id,
        "state": state, "created_at": row.started_at, "closed_at": row.closed_at,
        "last_activity_at": row.closed_at or row.started_at,
        "first_response_at": (row.started_at + timedelta(seconds=row.first_response_seconds)
                              if row.first_response_seconds is not None else None),
        "first_response_seconds": row.first_response_seconds, "resolution_seconds": row.resolution_seconds,
        "outcome": row.outcome, "customer_state": row.customer_state, "close_comment": row.comments,
        "awaiting_reply": False,
    }


def do_import_conversations(rows: Sequence[ImportedConversation],
                            progress: Callable[[str, int, int], None] | None = None) -> dict[str, int]:
    """Upserts past conversations by `import_ref`: new ones in bulk (COPY on PostgreSQL), changed ones updated,
    unchanged ones left alone (a re-import changes nothing). Returns {ref: conversation id}."""
    report = progress or (lambda _stage, _done, _total: None)
    inbox = history_inbox().pk
    refs = [r.ref for r in rows]
    existing: dict[str, dict[str, Any]] = {}
    for start in range(0, len(refs), IMPORT_BATCH):
        for row in Conversation.objects.filter(import_ref__in=refs[start:start + IMPORT_BATCH]).values(
                "pk", "import_ref", *IMPORTED_FIELDS):
            existing[row["import_ref"]] = row
    creating: list[dict[str, Any]] = []
    updating: list[Conversation] = []
    for i, r in enumerate(rows):
        values = imported_values(r, inbox_id=inbox)
        old = existing.get(r.ref)
        if old is None:
            creating.append({"import_ref": r.ref, **values})
        elif any(old[k] != v for k, v in values.items()):
            updating.append(Conversation(pk=old["pk"], import_ref=r.ref, **values))
        if len(creating) >= IMPORT_BATCH:
            bulk_insert(Conversation, creating)
            creating = []
            report("conversations", i + 1, len(rows))
    bulk_insert(Conversation, creating)
    Conversation.objects.bulk_update(updating, list(IMPORTED_FIELDS), batch_size=1000)
    report("conversations", len(rows), len(rows))
    ids: dict[str, int] = {}
    for start in range(0, len(refs), IMPORT_BATCH):
        ids.update(Conversation.objects.filter(import_ref__in=refs[start:start + IMPORT_BATCH])
                   .values_list("import_ref", "pk"))
    return ids


def do_import_conversation(row: ImportedConversation) -> int:
    """One past conversation (see do_import_conversations), through the model."""
    conversation, _created = Conversation.objects.update_or_create(
        import_ref=row.ref, defaults=imported_values(row, inbox_id=history_inbox().pk))
    return conversation.pk
