"""Fault schedules scaled to the run's length: what happens when, in seconds after the collector started."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    at: float  # seconds after the collector started
    # device | broker_down | broker_kill | broker_up | broker_takeover | store_down | store_up |
    # historian_kill | historian_start | collector_kill | collector_start
    action: str
    label: str
    device: str | None = None
    kind: str | None = None  # simulator fault: stall, restart, drop, …
    seconds: float | None = None


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def demo_schedule(length_s: float, stall_device: str = "sl-02") -> list[Step]:
    """One device fault, then one broker outage, both over before the end so the replay shows."""
    stall = round(_clamp(0.12 * length_s, 8, 25))
    outage = round(_clamp(0.15 * length_s, 8, 30))
    device_at = round(0.2 * length_s)
    broker_at = round(max(device_at + stall + 3, 0.45 * length_s))
    return [
        Step(
            device_at, "device", f"{stall_device} stops answering for {stall}s", stall_device, "stall", stall
        ),
        Step(broker_at, "broker_down", f"broker outage: mosquitto stopped for {outage}s"),
        Step(broker_at + outage, "broker_up", "broker back on the same port"),
    ]


FAULT_FAMILIES = ("plc", "cnc", "rtu", "broker", "store", "historian", "kill")  # the soak's order


def soak_schedule(
    length_s: float,
    *,
    store: bool,
    families: tuple[str, ...] = FAULT_FAMILIES,
    cnc: str = "cnc-01",
    plc: str = "sl-01",
    rtu: str = "imm-01",
) -> list[Step]:
    """The chosen fault families in turn, repeated while there is time; the last 15% of the run stays
    calm. Fewer families repeat more often: a single-family run is a diagnostic of that fault alone.
    Broker faults are SIGKILLs (the broker runs without persistence, so it loses all it held): in
    turn, the broker comes back empty on its port, or an empty standby takes over at the failover
    address (a cluster fail-over)."""
    unknown = set(families) - set(FAULT_FAMILIES)
    if unknown or not families:
        raise ValueError(f"fault families: {', '.join(sorted(unknown)) or 'none'}; known: {FAULT_FAMILIES}")
    chosen = [f for f in FAULT_FAMILIES if f in families and (store or f not in ("store", "historian"))]
    if not chosen:
        raise ValueError(
            "store outages and historian kills need VictoriaMetrics; this run has the SQLite historian"
        )
    usable = 0.85 * length_s - 10
    spacing = _clamp(usable / max(1, len(chosen)), 20, 90)  # long runs repeat every family
    d = round(_clamp(0.5 * spacing, 5, 30))  # outage length

    targets = {"plc": plc, "cnc": cnc, "rtu": rtu}
    out: list[Step] = []
    at, n, brokers = 10.0, 0, 0
    while at < usable:
        family = chosen[n % len(chosen)]
        steps = _episode(family, targets.get(family, ""), d, brokers)
        brokers += family == "broker"
        out += [Step(round(at + s.at, 1), s.action, s.label, s.device, s.kind, s.seconds) for s in steps]
        at += spacing
        n += 1
    return out


def _episode(family: str, target: str, d: int, brokers_before: int) -> list[Step]:
    """One fault of a family, its steps at offsets from the episode's start; `d` is the outage
    length. Broker episodes alternate: the broker back on its port, then a standby taking over."""
    if family == "plc":
        return [Step(0, "device", f"{target} restarts (port closed and re-bound)", target, "restart")]
    if family == "cnc":
        label = f"{target} OPC UA server restarts with renumbered namespaces"
        return [Step(0, "device", label, target, "restart")]
    if family == "rtu":
        return [Step(0, "device", f"{target} (RTU slave) stops answering for {d}s", target, "stall", d)]
    if family == "broker":
        back = (
            Step(d, "broker_takeover", "fail-over: a standby broker takes over")
            if brokers_before % 2
            else Step(d, "broker_up", "the broker back on its port")
        )
        return [Step(0, "broker_kill", f"broker SIGKILL, down for {d}s"), back]
    if family == "store":
        return [
            Step(0, "store_down", f"store outage: VictoriaMetrics stopped for {d}s"),
            Step(d, "store_up", "store back on the same port"),
        ]
    if family == "historian":
        return [
            Step(0, "historian_kill", f"historian SIGKILL (one of them) for {d}s"),
            Step(d, "historian_start", "historian started again"),
        ]
    return [
        Step(0, "collector_kill", "collector SIGKILL"),
        Step(3, "collector_start", "collector restarted"),
    ]
