"""Channel connectors: each sub-app turns one outside channel into inbox conversations and sends replies back.

They are separate Django apps (labels `whatsapp`, `mail`, `webchat`) so each owns its models and migrations; all
of them call the inbox's actions (`do_receive_inbound`, `do_update_delivery_status`) and register an outbound
sender in `inbox.outbound`.
"""
