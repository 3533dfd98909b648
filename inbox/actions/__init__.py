"""The unified inbox's rules (seeds 003/004 of the mission), enforced in one place: one module per concern.

One transition function (base.do_transition_conversation) with a declared table; every change writes a
ConversationEvent and emits its domain event; realtime events go out after commit to the people who can see the
conversation. Everything is re-exported here: callers write `from inbox.actions import check_assign`.
"""

from __future__ import annotations

from inbox.actions.administration import (
    access_inbox as access_inbox,
)
from inbox.actions.administration import (
    check_delete_category as check_delete_category,
)
from inbox.actions.administration import (
    check_save_category as check_save_category,
)
from inbox.actions.administration import (
    check_save_inbox as check_save_inbox,
)
from inbox.actions.assignment import (
    _assign as _assign,
)
from inbox.actions.assignment import (
    _require_can_take as _require_can_take,
)
from inbox.actions.assignment import (
    _user_ref as _user_ref,
)
from inbox.actions.assignment import (
    candidates as candidates,
)
from inbox.actions.assignment import (
    check_assign as check_assign,
)
from inbox.actions.assignment import (
    check_transfer as check_transfer,
)
from inbox.actions.assignment import (
    do_assign as do_assign,
)
from inbox.actions.assignment import (
    do_auto_assign as do_auto_assign,
)
from inbox.actions.assignment import (
    do_move_to_inbox as do_move_to_inbox,
)
from inbox.actions.assignment import (
    open_load as open_load,
)
from inbox.actions.assignment import (
    pick_agent as pick_agent,
)
from inbox.actions.associations import (
    check_create_task as check_create_task,
)
from inbox.actions.associations import (
    check_set_associations as check_set_associations,
)
from inbox.actions.associations import (
    check_set_task_status as check_set_task_status,
)
from inbox.actions.associations import (
    do_create_task as do_create_task,
)
from inbox.actions.associations import (
    do_set_associations as do_set_associations,
)
from inbox.actions.base import (
    MENTION as MENTION,
)
from inbox.actions.base import (
    MIN_COMMENT as MIN_COMMENT,
)
from inbox.actions.base import (
    PAYLOAD_BODY_MAX as PAYLOAD_BODY_MAX,
)
from inbox.actions.base import (
    S as S,
)
from inbox.actions.base import (
    _clean_name as _clean_name,
)
from inbox.actions.base import (
    _descriptive as _descriptive,
)
from inbox.actions.base import (
    _emit as _emit,
)
from inbox.actions.base import (
    _event as _event,
)
from inbox.actions.base import (
    _may_act as _may_act,
)
from inbox.actions.base import (
    _same_name as _same_name,
)
from inbox.actions.base import (
    access_conversation as access_conversation,
)
from inbox.actions.base import (
    audience as audience,
)
from inbox.actions.base import (
    check_may_act as check_may_act,
)
from inbox.actions.base import (
    conversation_payload as conversation_payload,
)
from inbox.actions.base import (
    do_record_event as do_record_event,
)
from inbox.actions.base import (
    do_set_sla_due as do_set_sla_due,
)
from inbox.actions.base import (
    do_transition_conversation as do_transition_conversation,
)
from inbox.actions.base import (
    event_payload as event_payload,
)
from inbox.actions.base import (
    message_max_length as message_max_length,
)
from inbox.actions.base import (
    message_payload as message_payload,
)
from inbox.actions.base import (
    visible_to as visible_to,
)
from inbox.actions.calls import (
    CALL_IDLE_MINUTES as CALL_IDLE_MINUTES,
)
from inbox.actions.calls import (
    CALLS_INBOX as CALLS_INBOX,
)
from inbox.actions.calls import (
    calls_inbox as calls_inbox,
)
from inbox.actions.calls import (
    calls_since as calls_since,
)
from inbox.actions.calls import (
    do_end_call as do_end_call,
)
from inbox.actions.calls import (
    do_end_idle_calls as do_end_idle_calls,
)
from inbox.actions.calls import (
    do_note_call as do_note_call,
)
from inbox.actions.calls import (
    do_open_call as do_open_call,
)
from inbox.actions.calls import (
    do_touch_call as do_touch_call,
)
from inbox.actions.calls import (
    latest_call as latest_call,
)
from inbox.actions.closing import (
    _set_classification as _set_classification,
)
from inbox.actions.closing import (
    check_classify_conversation as check_classify_conversation,
)
from inbox.actions.closing import (
    check_close_conversation as check_close_conversation,
)
from inbox.actions.closing import (
    check_escalate as check_escalate,
)
from inbox.actions.closing import (
    check_transition as check_transition,
)
from inbox.actions.closing import (
    do_escalate as do_escalate,
)
from inbox.actions.closing import (
    do_note_sale as do_note_sale,
)
from inbox.actions.closing import (
    sale_conversation as sale_conversation,
)
from inbox.actions.closing import (
    satisfied_reasons as satisfied_reasons,
)
from inbox.actions.history import (
    ImportedConversation as ImportedConversation,
)
from inbox.actions.history import (
    do_import_conversation as do_import_conversation,
)
from inbox.actions.history import (
    do_import_conversations as do_import_conversations,
)
from inbox.actions.history import (
    history_inbox as history_inbox,
)
from inbox.actions.intake import (
    _global_inbox as _global_inbox,
)
from inbox.actions.intake import (
    check_receive_api_message as check_receive_api_message,
)
from inbox.actions.intake import (
    do_receive_inbound as do_receive_inbound,
)
from inbox.actions.maintenance import (
    check_merge_conversations as check_merge_conversations,
)
from inbox.actions.maintenance import (
    check_review_closure as check_review_closure,
)
from inbox.actions.maintenance import (
    do_return_stale_to_pool as do_return_stale_to_pool,
)
from inbox.actions.maintenance import (
    duplicates_of as duplicates_of,
)
from inbox.actions.maintenance import (
    register_merge_hook as register_merge_hook,
)
from inbox.actions.messages import (
    _DELIVERY_RANK as _DELIVERY_RANK,
)
from inbox.actions.messages import (
    can_reply as can_reply,
)
from inbox.actions.messages import (
    check_add_note as check_add_note,
)
from inbox.actions.messages import (
    check_mark_handled_outside as check_mark_handled_outside,
)
from inbox.actions.messages import (
    check_retry_delivery as check_retry_delivery,
)
from inbox.actions.messages import (
    check_send_reply as check_send_reply,
)
from inbox.actions.messages import (
    do_add_system_note as do_add_system_note,
)
from inbox.actions.messages import (
    do_send_automatic as do_send_automatic,
)
from inbox.actions.messages import (
    do_send_reply as do_send_reply,
)
from inbox.actions.messages import (
    do_update_delivery_status as do_update_delivery_status,
)
from inbox.actions.personal_views import (
    SAVED_VIEW_QUERY_MAX as SAVED_VIEW_QUERY_MAX,
)
from inbox.actions.personal_views import (
    SAVED_VIEWS_MAX as SAVED_VIEWS_MAX,
)
from inbox.actions.personal_views import (
    _clean_view_query as _clean_view_query,
)
from inbox.actions.personal_views import (
    check_delete_view as check_delete_view,
)
from inbox.actions.personal_views import (
    check_save_view as check_save_view,
)
from inbox.actions.viewing import (
    VIEWING_TTL as VIEWING_TTL,
)
from inbox.actions.viewing import (
    check_viewing as check_viewing,
)
from inbox.actions.viewing import (
    on_viewing_message as on_viewing_message,
)
