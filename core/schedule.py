"""Every periodic job, its cadence and why (STYLE §8). `manage.py run_scheduler` enqueues them.

The scheduler only enqueues; the worker of the configured backend (database queue or RQ) runs the
job, so the same schedule works in embedded and scale mode. Later issues append to SCHEDULE.

`label` and `reason` are what the system page shows (Spanish sources, translated lazily); `name` and `task`
are machine identifiers and stay out of visible text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils.translation import gettext as _gettext
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_stubs_ext import StrOrPromise


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: str  # dotted path of a django.tasks Task
    every: timedelta
    reason: StrOrPromise
    label: StrOrPromise = ""

    @property
    def cadence(self) -> str:
        """How often, in the current language: "cada 30 segundos", "cada hora"."""
        seconds = int(self.every.total_seconds())
        if seconds % 86400 == 0:
            n, text = seconds // 86400, ngettext("cada día", "cada %(n)d días", seconds // 86400)
        elif seconds % 3600 == 0:
            n, text = seconds // 3600, ngettext("cada hora", "cada %(n)d horas", seconds // 3600)
        elif seconds % 60 == 0:
            n, text = seconds // 60, ngettext("cada minuto", "cada %(n)d minutos", seconds // 60)
        else:
            n, text = seconds, ngettext("cada segundo", "cada %(n)d segundos", seconds)
        return text % {"n": n} if "%(n)d" in text else text

    @property
    def title(self) -> str:
        return str(self.label) if self.label else _gettext("Tarea periódica")


SCHEDULE: tuple[PeriodicJob, ...] = (
    PeriodicJob("queue_probe", "core.tasks.queue_probe", timedelta(seconds=30),
                label=_("Prueba de la cola"),
                reason=_("Comprueba el camino completo: el programador la encola y un procesador la ejecuta. "
                         "Cada proceso escribe además su propio latido.")),
    PeriodicJob("prune_event_log", "core.tasks.prune_event_log", timedelta(days=1),
                label=_("Limpieza del registro de eventos"),
                reason=_("El registro de eventos de dominio es un canal para integraciones, no un archivo: "
                         "guarda EVENT_LOG_RETENTION_DAYS días (90 por defecto).")),
    PeriodicJob("prune_login_failures", "accounts.tasks.prune_login_failures", timedelta(hours=6),
                label=_("Limpieza de inicios de sesión fallidos"),
                reason=_("Los intentos fallidos de más de 30 días ya no sirven para frenar ataques.")),
    PeriodicJob("prune_finished_task_results", "core.tasks.prune_finished_task_results", timedelta(hours=1),
                label=_("Limpieza de resultados de tareas"),
                reason=_("La cola en base de datos guarda los resultados terminados; una semana basta"
                         " para investigar.")),
    PeriodicJob("drain_kommo_outbox", "crm.tasks.drain_kommo_outbox", timedelta(seconds=30),
                label=_("Envío pendiente a Kommo"),
                reason=_("Red de seguridad de la bandeja de salida de Kommo: lo que quedó pendiente "
                         "tras una caída se envía aunque se haya perdido la tarea diferida.")),
    PeriodicJob("kommo_safety_net", "crm.tasks.kommo_safety_net", timedelta(minutes=1),
                label=_("Reintentos de webhooks de Kommo"),
                reason=_("Kommo no reenvía lo que ya respondimos: un webhook recibido cuya tarea se perdió "
                         "(procesador caído) se vuelve a procesar pasado un minuto.")),
    PeriodicJob("deliver_webhooks", "webhooks.tasks.deliver_webhooks", timedelta(seconds=30),
                label=_("Envío de webhooks salientes"),
                reason=_("Red de seguridad de los webhooks firmados que enviamos (por el mismo motivo).")),
    PeriodicJob("fan_out_missed_events", "webhooks.tasks.fan_out_missed_events", timedelta(minutes=5),
                label=_("Eventos pendientes para webhooks salientes"),
                reason=_("Un evento registrado cuyo reparto a los webhooks se perdió (proceso caído justo después "
                         "de guardar) se reparte igual: nada de las últimas 24 horas queda sin enviar.")),
    PeriodicJob("return_stale_conversations", "inbox.tasks.return_stale_conversations", timedelta(seconds=60),
                label=_("Devolución de conversaciones a la cola"),
                reason=_("Las conversaciones de un agente que se desconectó o no respondió a tiempo "
                         "vuelven a la cola.")),
    PeriodicJob("send_due_scheduled_messages", "automation.tasks.send_due_scheduled_messages",
                timedelta(seconds=30), label=_("Envío de mensajes programados"),
                reason=_("Envía los mensajes programados que llegaron a su hora y siguen esperando, si la tarea "
                         "diferida de alguno se perdió (un reinicio): nunca se envía uno dos veces.")),
    PeriodicJob("detect_sla_breaches", "automation.tasks.detect_sla_breaches", timedelta(seconds=2),
                label=_("Vencimientos de SLA"),
                reason=_("Encuentra los objetivos de servicio vencidos (primera y siguiente respuesta, resolución) "
                         "y escala los casos sin resolver a tiempo: el aviso llega a los pocos segundos. Si no "
                         "vence nada, solo lee un índice.")),
    PeriodicJob("run_waiting_rules", "automation.tasks.run_waiting_rules", timedelta(seconds=30),
                label=_("Reglas de automatización pendientes"),
                reason=_("Evalúa los eventos guardados para las reglas cuya tarea se perdió (un reinicio, la cola "
                         "caída): ninguna regla deja de aplicarse ni se aplica dos veces.")),
    PeriodicJob("start_scheduled_rules", "automation.tasks.start_scheduled_rules", timedelta(minutes=1),
                label=_("Reglas a una hora programada"),
                reason=_("A la hora de cada regla programada revisa las conversaciones abiertas y retoma una "
                         "revisión interrumpida: ninguna conversación se revisa dos veces en la misma hora.")),
    PeriodicJob("prune_rule_runs", "automation.tasks.prune_rule_runs", timedelta(hours=24),
                label=_("Limpieza del registro de reglas"),
                reason=_("Los eventos ya evaluados se guardan una semana y las ejecuciones de reglas seis meses.")),
    PeriodicJob("sweep_bot_runs", "bots.tasks.sweep_runs", timedelta(seconds=30),
                label=_("Conversaciones del bot inactivas o en pausa"),
                reason=_("Cierra con su mensaje las conversaciones del bot en las que el cliente dejó de responder "
                         "y retoma las que esperaban un tiempo: ningún cliente queda esperando al bot.")),
    PeriodicJob("sync_team_channels", "teamchat.tasks.sync_team_channels", timedelta(minutes=5),
                label=_("Canales de los equipos en el chat"),
                reason=_("Cada equipo tiene su canal y sus miembros son los del equipo: quien entra o sale de un "
                         "equipo entra o sale de su canal.")),
    PeriodicJob("purge_chat_messages", "teamchat.tasks.purge_expired", timedelta(hours=24),
                label=_("Conservación de los mensajes del chat"),
                reason=_("Borra los mensajes del chat más antiguos que el plazo que fijó la organización, con sus "
                         "archivos.")),
    PeriodicJob("sync_whatsapp_templates", "connectors.whatsapp.tasks.sync_whatsapp_templates", timedelta(hours=1),
                label=_("Sincronización de plantillas de WhatsApp"),
                reason=_("Las plantillas se aprueban o pausan en Meta; el selector de la conversación"
                         " debe mostrar las vigentes.")),
    PeriodicJob("whatsapp_safety_net", "connectors.whatsapp.tasks.whatsapp_safety_net", timedelta(minutes=1),
                label=_("Reintentos de WhatsApp"),
                reason=_("Se reintentan los webhooks y envíos de WhatsApp cuya tarea se perdió "
                         "(procesador caído, tarea diferida perdida).")),
    PeriodicJob("sms_safety_net", "connectors.sms.tasks.sms_safety_net", timedelta(minutes=1),
                label=_("Reintentos de SMS"),
                reason=_("Se reintentan los webhooks y envíos de SMS cuya tarea se perdió, y los estados de entrega "
                         "que llegaron antes que la respuesta de Twilio se aplican a su mensaje.")),
    PeriodicJob("poll_mailboxes", "connectors.mail.tasks.poll_due_mailboxes", timedelta(seconds=15),
                label=_("Lectura de buzones de correo"),
                reason=_("Se leen los buzones IMAP cuyo intervalo de consulta ya pasó (cada buzón define el suyo).")),
    PeriodicJob("retry_mail", "connectors.mail.tasks.retry_mail", timedelta(minutes=1),
                label=_("Reintentos de correo"),
                reason=_("Correos salientes que toca reintentar y correos de webhook cuyo "
                         "procesamiento falló o se perdió.")),
    PeriodicJob("notify_due_tasks", "connectors.mail.tasks.notify_due_tasks", timedelta(minutes=1),
                label=_("Aviso de tareas vencidas"),
                reason=_("El responsable de una tarea vencida recibe un correo (una vez por fecha de vencimiento).")),
    PeriodicJob("prune_mail_log", "connectors.mail.tasks.prune_mail_log", timedelta(hours=24),
                label=_("Limpieza del registro de correo"),
                reason=_("Los cuerpos de webhooks se guardan una semana para investigar, y el "
                         "registro de entrada tres meses.")),
    PeriodicJob("rebuild_customer_activity", "customers.tasks.rebuild_activity", timedelta(hours=24),
                label=_("Actividad de los clientes"),
                reason=_("Recalcula el último contacto, las compras y el gasto de cada cliente: las compras de los "
                         "últimos 90 días y 12 meses cambian con el calendario aunque nadie escriba.")),
    PeriodicJob("start_due_campaigns", "campaigns.tasks.start_due_campaigns", timedelta(minutes=1),
                label=_("Campañas programadas"),
                reason=_("Empieza las campañas que llegaron a su hora y retoma el envío de una campaña cuyo "
                         "proceso se detuvo (un reinicio): ningún cliente recibe el mensaje dos veces.")),
    PeriodicJob("publish_due_announcements", "announcements.tasks.publish_due_announcements", timedelta(minutes=1),
                label=_("Anuncios programados"),
                reason=_("Publica los anuncios que llegaron a su hora: el aviso aparece a las personas a más tardar "
                         "un minuto después; ninguno se publica dos veces.")),
    PeriodicJob("refresh_reports", "reports.tasks.refresh_reports", timedelta(seconds=20),
                label=_("Actualización de los informes"),
                reason=_("Los totales del tablero van como mucho un minuto detrás de los datos (el "
                         "tablero además suma los cambios pendientes antes de leer); al pasar la "
                         "medianoche se recorta el horizonte de dos años.")),
    PeriodicJob("recover_abandoned_imports", "reports.tasks.recover_abandoned_imports", timedelta(minutes=10),
                label=_("Reanudación de importaciones interrumpidas"),
                reason=_("Una importación del historial cuyo procesador murió mostraría «procesando» "
                         "para siempre; vuelve a la cola una vez (importar es idempotente) y, si se "
                         "interrumpe de nuevo, termina como fallida.")),
    PeriodicJob("apply_retention", "reports.tasks.apply_retention", timedelta(hours=24),
                label=_("Retención de datos"),
                reason=_("Con RETENTION_MODE=delete se borran las conversaciones anteriores al "
                         "horizonte de dos años.")),
    PeriodicJob("prune_channel_layer", "core.tasks.prune_channel_layer", timedelta(minutes=5),
                label=_("Limpieza de la capa de tiempo real"),
                reason=_("La capa de tiempo real en SQLite guarda los mensajes entregados y vencidos "
                         "hasta que se limpian.")),
)
