"""Real-shaped Kommo webhook bodies (contract §1.2), built key by key as Kommo sends them."""

from __future__ import annotations

from urllib.parse import urlencode

ACCOUNT = [("account[subdomain]", "mycompany"), ("account[id]", "32720107"),
           ("account[_links][self]", "https://mycompany.kommo.com")]


def lead_item(action: str, index: int, *, lead_id: int, status_id: int, pipeline_id: int = 8572511,
              name: str = "Order 1042", updated_at: int = 1726572758, tags: list[str] | None = None,
              old_status_id: int | None = None, date_field: bool = True) -> list[tuple[str, str]]:
    p = f"leads[{action}][{index}]"
    pairs = [(f"{p}[id]", str(lead_id)), (f"{p}[name]", name), (f"{p}[status_id]", str(status_id)),
             (f"{p}[price]", "1000"), (f"{p}[responsible_user_id]", "12345678"),
             (f"{p}[last_modified]", str(updated_at)), (f"{p}[modified_user_id]", "11087123"),
             (f"{p}[created_user_id]", "11087123"), (f"{p}[date_create]", "1726572752"),
             (f"{p}[pipeline_id]", str(pipeline_id)), (f"{p}[account_id]", "32720107"),
             (f"{p}[created_at]", "1726572752"), (f"{p}[updated_at]", str(updated_at))]
    if old_status_id is not None:
        pairs.append((f"{p}[old_status_id]", str(old_status_id)))
    for i, tag in enumerate(tags or []):
        pairs += [(f"{p}[tags][{i}][id]", str(80147 + i)), (f"{p}[tags][{i}][name]", tag)]
    pairs += [(f"{p}[custom_fields][0][id]", "1246489"), (f"{p}[custom_fields][0][name]", "Select"),
              (f"{p}[custom_fields][0][values][0][value]", "2"), (f"{p}[custom_fields][0][values][0][enum]", "908107")]
    if date_field:
        pairs += [(f"{p}[custom_fields][1][id]", "1246491"), (f"{p}[custom_fields][1][name]", "Date"),
                  (f"{p}[custom_fields][1][values][0]", "1725915600")]
    return pairs


def body(*items: list[tuple[str, str]], account: list[tuple[str, str]] | None = None) -> str:
    pairs = [pair for item in items for pair in item] + (ACCOUNT if account is None else account)
    return urlencode(pairs)
