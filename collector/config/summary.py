"""One-screen summary of a valid plant, printed by `shopfloor config check`."""

from __future__ import annotations

from collections import Counter

from collector.config.equipment import rows
from collector.config.loader import LoadedPlant
from collector.config.modbus import ModbusOptions
from collector.config.sinks import MqttMode


def summarise(plant: LoadedPlant, display: str) -> str:
    cfg = plant.config
    site = cfg.site
    lines = sum(len(a.lines) for a in site.areas)
    by_protocol = Counter(d.protocol for d in cfg.devices)
    tags = Counter()  # type: Counter[str]
    for device in cfg.devices:
        tags[device.protocol] += len(device.tags)
    out = [
        f"{display}: OK",
        f"  site     {site.enterprise} / {site.site} ({site.timezone}), edge {site.edge_id}, "
        f"{len(site.areas)} areas, {lines} lines",
        f"  devices  {len(cfg.devices)}: " + ", ".join(f"{k} {v}" for k, v in sorted(by_protocol.items())),
        f"  tags     {sum(tags.values())}: " + ", ".join(f"{k} {v}" for k, v in sorted(tags.items())),
        "  register " + _register(plant),
    ]
    for device in cfg.devices:
        if isinstance(device, ModbusOptions) and device.tags:
            out.append(f"           {device.id}: addresses read as {device.addressing_note()}")
    out.append("  sinks    " + _sinks(plant))
    out.append(f"  web      {cfg.web.host}:{cfg.web.port}")
    return "\n".join(out)


def _register(plant: LoadedPlant) -> str:
    table = rows(plant.config)
    production = [r for r in table if r.production]
    connected = sum(1 for r in production if r.networked_via)
    source = (
        "equipment:" if plant.config.equipment is not None else "the devices' asset: (no equipment: section)"
    )
    return f"{len(table)} rows from {source}, {len(production)} production equipment, {connected} connected"


def _sinks(plant: LoadedPlant) -> str:
    cfg = plant.config
    parts = []
    if cfg.mqtt.mode is not MqttMode.OFF:
        mq = cfg.mqtt
        tls = ""
        if mq.tls is not None:
            tls = " TLS (" + (f"CA {mq.tls.ca_file}" if mq.tls.ca_file else "system CAs") + ")"
        parts.append(
            f"mqtt {mq.mode.value} -> {mq.host}:{mq.port}{tls} (MQTT {mq.version.value}, QoS {mq.qos})"
        )
    store = cfg.storage
    where = store.url or str(plant.resolve(store.sqlite_path))
    parts.append(f"store {store.backend.value} {where}" + (" (direct)" if store.direct else ""))
    return "; ".join(parts)
