"""What an integrator adds to a plant file for each simulated machine: equipment-state rules, part
counters, OEE inputs and the 设备台账 row, per simulator profile.

One copy, used by `simulate plant --emit-config` (simulators/emit.py) and the demo's plant file
(collector/demo/plant.py), so the file a user gets from the simulated plant shows equipment state
and OEE just as the demo does.
"""

from __future__ import annotations

from typing import Any

from simulators.modbus.profiles import load_profile

_DEBOUNCE = {"default": "1s", "ALARM": "0s", "OFFLINE": "0s"}
CNC_CYCLE_S = 60.0  # simulated seconds per part of the scenario's CNCs (demo.yaml): the ideal is set from it


def ideal_cycle_s(time_scale: float, cnc_cycle_s: float = CNC_CYCLE_S) -> float:
    """The ideal cycle in collector (real) seconds: 80 % of the CNCs' simulated cycle, so E stays below 1."""
    return 0.8 * cnc_cycle_s / time_scale


def profile_kind(device: dict[str, Any]) -> str:
    """Which simulator profile emitted the device, told by its tags (the emitted file does not say)."""
    names = {t["name"] for t in device.get("tags", [])}
    if "channel1_channel_state" in names:
        return "machinetool"
    if "channel_state" in names:
        return "legacy-cnc"
    if "shot_counter" in names:
        return "injection-molding"
    if "lamp_red" in names:
        return "stacklight-plc"
    if "voltage" in names:
        return "energy-meter"
    return "other"


def _oee(ideal_s: float, coarse_state: bool = False) -> dict[str, Any]:
    """PRI = the simulators' cycle. Where the state inputs flip faster than the collector samples them
    while the counter keeps counting (stack-light lamps at 60x simulated time), part of the running
    time is seen as idle, so the ideal is set to 75 % of the cycle to keep E below 1."""
    return {"ideal_cycle_time": f"{round(ideal_s * (750 if coarse_state else 1000))}ms"}


def _own_cycle(ideal_s: float, profile: str) -> float:
    """The ideal scaled from the CNCs' cycle to the profile's own (the moulding machine shoots every
    32 simulated seconds): judged against another machine's cycle, E would exceed 1."""
    cycle = float(load_profile(profile).machine.get("cycle_time_s", CNC_CYCLE_S))
    return ideal_s * cycle / CNC_CYCLE_S


def device_overlay(kind: str, ideal_s: float) -> dict[str, Any]:
    """State, counters, OEE and 设备台账 fields per profile: what an integrator adds to a plant file."""
    oee = _oee(ideal_s)
    if kind == "machinetool":
        return {
            "name_zh": "立式加工中心",
            "asset": {
                "type": "立式加工中心",
                "vendor": "示范机床",
                "model": "VMC-850",
                "controller": "OPC 40501",
                "process": "精铣",
                "is_key_process": True,
                "is_digital": True,
                "is_nc": True,
            },
            "state": {
                "template": "machinetool",
                "inputs": {"channel_state": "channel1_channel_state"},
                "debounce": _DEBOUNCE,
                "micro_stop": "2s",
            },
            "counters": [
                {"name": "parts", "tag": "statistics_parts_produced_in_lifetime", "max_rate": 5},
                {
                    "name": "scrap",
                    "tag": "statistics_parts_scrap_in_lifetime",
                    "role": "scrap",
                    "max_rate": 5,
                },
            ],
            "oee": oee,
        }
    if kind == "legacy-cnc":
        return {
            "name_zh": "数控车床",
            "asset": {
                "type": "数控车床",
                "vendor": "示范机床",
                "model": "CK6150",
                "process": "车削",
                "is_key_process": True,
                "is_digital": True,
                "is_nc": True,
                "access": "gateway",
            },
            "state": {
                "template": "machinetool",
                "inputs": {"channel_state": "channel_state"},
                "debounce": _DEBOUNCE,
                "micro_stop": "2s",
            },
            "counters": [
                {"name": "parts", "tag": "counter_total", "max_rate": 5},
                {"name": "scrap", "tag": "counter_scrap", "role": "scrap", "max_rate": 5},
            ],
            "oee": oee,
        }
    if kind == "stacklight-plc":
        return {
            "name_zh": "加工单元三色灯PLC",
            # is_digital left undeclared on purpose: the pack lists it as 未申报
            "asset": {"type": "加工单元", "vendor": "示范自动化", "model": "S7-1200", "process": "装配"},
            "state": {
                "template": "stacklight",
                "inputs": {
                    "red": "lamp_red",
                    "yellow": "lamp_yellow",
                    "green": "lamp_green",
                    "power": "powered",
                },
                "debounce": _DEBOUNCE,
                "micro_stop": "2s",
            },
            "counters": [
                {"name": "parts", "tag": "parts_total", "max_rate": 5},
                {"name": "scrap", "tag": "parts_scrap", "role": "scrap", "width": 16, "max_rate": 5},
            ],
            "oee": _oee(ideal_s, coarse_state=True),
        }
    if kind == "injection-molding":
        return {
            "name_zh": "注塑机",
            "asset": {
                "type": "注塑机",
                "vendor": "示范注塑",
                "model": "HX-160",
                "process": "注塑",
                "is_key_process": True,
                "is_digital": True,
                "is_nc": False,
            },
            "state": {
                "template": "conditions",
                "debounce": _DEBOUNCE,
                "micro_stop": "2s",
                "conditions": [
                    {"state": "STOPPED", "when": "not powered"},
                    {"state": "ALARM", "sub": "FAULT", "when": "alarm_bit"},
                    {"state": "RUNNING", "when": "run_bit"},
                ],
            },
            "counters": [
                {"name": "parts", "tag": "shot_counter", "max_rate": 5},
                {"name": "scrap", "tag": "scrap_counter", "role": "scrap", "width": 16, "max_rate": 5},
            ],
            "oee": _oee(_own_cycle(ideal_s, "injection-molding")),
        }
    if kind == "energy-meter":
        return {
            "name_zh": "电能表",
            "asset": {
                "type": "电能表",
                "vendor": "示范电气",
                "model": "DTSU666",
                "category": "metering",
                "is_digital": True,
                "is_key_process": False,
            },
            # a meter has no machine state; drawing power or not still gives it an online timeline
            "state": {
                "template": "conditions",
                "debounce": _DEBOUNCE,
                "conditions": [{"state": "RUNNING", "when": "power > 0.5"}],
            },
        }
    return {}
