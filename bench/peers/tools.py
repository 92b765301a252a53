"""The three tools under test: for each, its config for the shared workload and the command that runs it.

Workload: N Modbus TCP devices (127.0.0.1:port_i, unit 1), each with T uint16 holding registers at
0..T-1, polled every second, every value published to MQTT (QoS 1 where the tool has it). Each tool gets
the batching its own docs offer: ours plans merged requests by itself; ThingsBoard Gateway reads a
documented address range ("0-49" with maxRegistersPerRequest); Node-RED's Modbus-Read node reads a
quantity of registers in one request. `tbg-perkey` is TBG's common per-key style, shown for reference.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mqttside import Parsed, parse_nodered, parse_ours, parse_tbg

REPO = Path(__file__).resolve().parents[2]
PEERS = Path(__file__).resolve().parent
NODE_RED = PEERS / "node-red"
TBG_VENV = PEERS / "tb-gateway" / "venv"


@dataclass
class Launch:
    cmd: list[str]
    cwd: Path
    env: dict[str, str]
    parse: Callable[[str, Any], Parsed]
    notes: str


def device_id(i: int) -> str:
    return f"plc-{i:03d}"


# ---------------------------------------------------------------------------------------------- ours
def ours(work: Path, ports: list[int], tags: int, mqtt_port: int) -> Launch:
    lines = [
        "version: 1",
        "site: {enterprise: bench, site: peers, edge_id: bench-01}",
        "data_dir: data",
        f"mqtt: {{mode: uns, host: 127.0.0.1, port: {mqtt_port}, qos: 1, root: uns}}",
        "storage: {backend: victoriametrics, url: 'http://127.0.0.1:9', direct: false}  # MQTT only",
        "devices:",
    ]
    for i, port in enumerate(ports):
        lines += [
            f"  - id: {device_id(i)}",
            "    protocol: modbus_tcp",
            f"    host: 127.0.0.1\n    port: {port}\n    unit_id: 1",
            "    poll_interval: 1s\n    timeout: 1s",
            "    tags:",
        ]
        lines += [
            f"      - {{name: r{t}, address: {{table: holding_register, offset: {t}}}, type: uint16}}"
            for t in range(tags)
        ]
    plant = work / "plant.yaml"
    plant.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return Launch(
        [sys.executable, "-m", "collector", "run", "-c", str(plant)],
        work,
        env,
        parse_ours,
        "shopfloor run; request planner (merged reads); durable SQLite outbox; MQTT 5 QoS 1",
    )


# ---------------------------------------------------------------------------------- ThingsBoard GW
def _tbg_logs(work: Path) -> None:
    """The package's own logs.json with every level raised to WARNING (logging at INFO costs CPU)."""
    import glob

    src = glob.glob(str(TBG_VENV / "lib" / "python3*" / "site-packages" / "thingsboard_gateway" / "config"))
    cfg = json.loads((Path(src[0]) / "logs.json").read_text(encoding="utf-8"))
    for section in ("handlers", "loggers"):
        for item in cfg.get(section, {}).values():
            if "level" in item:
                item["level"] = "WARNING"
    if "root" in cfg:
        cfg["root"]["level"] = "WARNING"
    # pymodbus 3.9 logs a deprecation warning on every decode with TBG's converter: silence it
    cfg.setdefault("loggers", {})["pymodbus"] = {"level": "ERROR"}
    (work / "config" / "logs.json").write_text(json.dumps(cfg, indent=1), encoding="utf-8")
    (work / "logs").mkdir(exist_ok=True)


def _tbg(work: Path, ports: list[int], tags: int, mqtt_port: int, per_key: bool) -> Launch:
    cfg_dir = work / "config"
    cfg_dir.mkdir(parents=True, exist_ok=True)
    gateway = {
        "thingsboard": {
            "host": "127.0.0.1",
            "port": mqtt_port,
            "remoteShell": False,
            "remoteConfiguration": False,
            "statistics": {"enable": False, "statsSendPeriodInSeconds": 3600},
            "deviceFiltering": {"enable": False},
            "checkConnectorsConfigurationInSeconds": 3600,
            "security": {"type": "accessToken", "accessToken": "bench"},
            "qos": 1,
            "reportStrategy": {"type": "ON_RECEIVED"},  # every polled value, like the others
        },
        # durable storage, the closest to our outbox; 'memory' is the shipped default
        "storage": {
            "type": "sqlite",
            "data_file_path": str(work / "data") + "/",
            "messages_ttl_check_in_hours": 1,
            "messages_ttl_in_days": 7,
        },
        "grpc": {"enabled": False},
        "connectors": [{"type": "modbus", "name": "Modbus", "configuration": "modbus.json"}],
    }
    (work / "data").mkdir(exist_ok=True)
    if per_key:
        series = [
            {"tag": f"r{t}", "type": "16uint", "functionCode": 3, "objectsCount": 1, "address": t}
            for t in range(tags)
        ]
    else:
        series = [
            {
                "tag": "r${address}",
                "type": "16uint",
                "functionCode": 3,
                "objectsCount": 1,
                "address": f"0-{tags - 1}",
                "maxRegistersPerRequest": 125,
            }
        ]
    slaves = [
        {
            "host": "127.0.0.1",
            "port": port,
            "type": "tcp",
            "method": "socket",
            "unitId": 1,
            "deviceName": device_id(i),
            "deviceType": "plc",
            "timeout": 1,
            "byteOrder": "BIG",
            "wordOrder": "BIG",
            "retries": 0,
            "pollPeriod": 1000,
            "connectAttemptTimeMs": 500,
            "connectAttemptCount": 5,
            "waitAfterFailedAttemptsMs": 5000,
            "timeseries": series,
            "attributes": [],
            "attributeUpdates": [],
            "rpc": [],
        }
        for i, port in enumerate(ports)
    ]
    (cfg_dir / "tb_gateway.json").write_text(json.dumps(gateway, indent=1), encoding="utf-8")
    (cfg_dir / "modbus.json").write_text(
        json.dumps({"master": {"slaves": slaves}}, indent=1), encoding="utf-8"
    )
    _tbg_logs(work)
    env = dict(os.environ, TB_GW_CONFIG_DIR=str(cfg_dir) + "/")
    env.pop("PYTHONPATH", None)
    style = "one request per key" if per_key else f"range 0-{tags - 1}, maxRegistersPerRequest 125"
    return Launch(
        [str(TBG_VENV / "bin" / "thingsboard-gateway")],
        work,
        env,
        parse_tbg,
        f"thingsboard-gateway {tbg_version()}; {style}; sqlite storage; QoS 1",
    )


def tbg(work: Path, ports: list[int], tags: int, mqtt_port: int) -> Launch:
    return _tbg(work, ports, tags, mqtt_port, per_key=False)


def tbg_perkey(work: Path, ports: list[int], tags: int, mqtt_port: int) -> Launch:
    return _tbg(work, ports, tags, mqtt_port, per_key=True)


def tbg_version() -> str:
    import glob

    found = glob.glob(
        str(TBG_VENV / "lib" / "python3*" / "site-packages" / "thingsboard_gateway-*.dist-info")
    )
    return Path(found[0]).name.split("-")[1].removesuffix(".dist") if found else "?"


# ----------------------------------------------------------------------------------------- Node-RED
NR_FUNC = """const out = {};
const regs = msg.payload;
for (let i = 0; i < regs.length; i++) { out['r' + i] = regs[i]; }
msg.topic = 'nr/' + DEVICE;
msg.payload = {device: DEVICE, ts: Date.now(), values: out};
return msg;"""


def nodered(work: Path, ports: list[int], tags: int, mqtt_port: int) -> Launch:
    flows: list[dict[str, Any]] = [
        {"id": "tab1", "type": "tab", "label": "bench"},
        {
            "id": "broker",
            "type": "mqtt-broker",
            "broker": "127.0.0.1",
            "port": str(mqtt_port),
            "clientid": "nodered-bench",
            "autoConnect": True,
            "usetls": False,
            "protocolVersion": "4",
            "keepalive": "15",
            "cleansession": True,
        },
        {"id": "out", "type": "mqtt out", "z": "tab1", "topic": "", "qos": "1", "retain": "false",
         "broker": "broker", "wires": []},
    ]  # fmt: skip
    for i, port in enumerate(ports):
        dev = device_id(i)
        flows += [
            {"id": f"c{i}", "type": "modbus-client", "clienttype": "tcp", "bufferCommands": True,
             "tcpHost": "127.0.0.1", "tcpPort": str(port), "tcpType": "DEFAULT", "unit_id": "1",
             "commandDelay": "1", "clientTimeout": "1000", "reconnectOnTimeout": True,
             "reconnectTimeout": "2000", "parallelUnitIdsAllowed": True, "stateLogEnabled": False,
             "queueLogEnabled": False, "failureLogEnabled": False},
            {"id": f"r{i}", "type": "modbus-read", "z": "tab1", "unitid": "1", "dataType": "HoldingRegister",
             "adr": "0", "quantity": str(tags), "rate": "1", "rateUnit": "s", "server": f"c{i}",
             "showStatusActivities": False, "showErrors": False, "useIOFile": False,
             "wires": [[f"f{i}"], []]},
            {"id": f"f{i}", "type": "function", "z": "tab1",
             "func": NR_FUNC.replace("DEVICE", json.dumps(dev)), "outputs": 1, "wires": [["out"]]},
        ]  # fmt: skip
    user = work / "userdir"
    user.mkdir(parents=True, exist_ok=True)
    (user / "flows.json").write_text(json.dumps(flows), encoding="utf-8")
    (user / "settings.js").write_text(
        "module.exports = {\n"
        f"  uiPort: {free_port_js()}, uiHost: '127.0.0.1',\n"
        "  httpAdminRoot: false, httpNodeRoot: false, disableEditor: true,\n"
        "  flowFile: 'flows.json', credentialSecret: false,\n"
        f"  nodesDir: {json.dumps(str(NODE_RED / 'node_modules'))},\n"
        "  logging: {console: {level: 'warn', metrics: false, audit: false}},\n"
        "  externalModules: {autoInstall: false, palette: {allowInstall: false}},\n"
        "};\n",
        encoding="utf-8",
    )
    red = NODE_RED / "node_modules" / "node-red" / "red.js"
    return Launch(
        ["node", str(red), "--userDir", str(user), "--settings", str(user / "settings.js")],
        work,
        dict(os.environ),
        parse_nodered,
        f"Node-RED {pkg_version('node-red')} + node-red-contrib-modbus "
        f"{pkg_version('node-red-contrib-modbus')}; "
        f"one Modbus-Read of {tags} registers per device; function node -> JSON; mqtt out QoS 1",
    )


def free_port_js() -> int:
    from mqttside import free_port

    return free_port()


def pkg_version(name: str) -> str:
    try:
        data = json.loads((NODE_RED / "node_modules" / name / "package.json").read_text(encoding="utf-8"))
        return str(data["version"])
    except (OSError, ValueError, KeyError):
        return "?"


TOOLS: dict[str, Callable[[Path, list[int], int, int], Launch]] = {
    "ours": ours,
    "nodered": nodered,
    "tbg": tbg,
    "tbg-perkey": tbg_perkey,
}
