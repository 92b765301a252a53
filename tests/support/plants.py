"""Plant-file text the integration tests share: the stack-light PLC of the simulator's
`stacklight-plc` profile, as one item of `devices:` or alone in a plant recording evidence."""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "configs" / "templates"


def stacklight_device(
    port: int, *, poll: str = "100ms", timeout: str = "300ms", extra: str = "", rule: str = ""
) -> str:
    """Device `sl-01` with the stacklight state rule (every lamp and the power input, no debounce).
    `extra`: more device keys, `rule`: more keys of its `state:`, each as YAML lines indented to fit."""
    return f"""  - id: sl-01
    protocol: modbus_tcp
    host: 127.0.0.1
    port: {port}
    template: stacklight-plc
    poll_interval: {poll}
    timeout: {timeout}
{extra}    state:
      template: stacklight
      inputs: {{red: lamp_red, yellow: lamp_yellow, green: lamp_green, power: powered}}
      debounce: {{default: 0s}}
{rule}"""


def stacklight_plant(
    port: int, *, plant_extra: str = "", device_extra: str = "", device_after: str = ""
) -> str:
    """A plant with only that device, an embedded SQLite store under data/ and a ledger summarising
    every 200 ms. `plant_extra`: top-level keys; `device_extra` / `device_after`: device keys placed
    before / after its `state:`, as YAML lines indented to fit."""
    return f"""
version: 1
site: {{enterprise: t, site: s, edge_id: edge-07, timezone: Asia/Shanghai}}
templates_dir: {TEMPLATES}
storage: {{backend: sqlite, sqlite_path: data/historian.sqlite}}
evidence: {{batch_interval: 200ms, timesync_interval: 1h}}
{plant_extra}devices:
{stacklight_device(port, extra=device_extra)}{device_after}"""
