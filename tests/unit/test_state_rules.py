"""State rules: the condition language, config validation, precedence and debounce properties."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from collector.config import ConfigError
from collector.config.expr import ExprError, parse
from collector.config.loader import load_plant
from collector.config.state import StateConfig
from collector.normalise.records import Bucket, State
from collector.normalise.state import StateMachine, compile_state
from drivers.status import BAD_TIMEOUT, UNCERTAIN_LAST_USABLE_VALUE

pytestmark = pytest.mark.unit
STATE = TypeAdapter(StateConfig)


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("alarm_code != 0", {"alarm_code": 3}, True),
        ("alarm_code != 0", {"alarm_code": None}, False),  # missing data never raises an alarm
        ("alarm_code == null", {}, True),
        ("mode in ['AUTO', \"MDI\"] and speed > 100.5", {"mode": "MDI", "speed": 200}, True),
        ("not (a or b) and c <= -1", {"a": False, "b": 0, "c": -1}, True),
        ("x < 3", {"x": "text"}, False),  # a string never orders against a number
        ("x != 3", {"x": "3"}, True),
        ("lamp", {"lamp": 1}, True),
        ("a == true or b >= 2e3", {"a": False, "b": 2000}, True),
    ],
)
def test_expression_evaluates(text: str, values: dict[str, object], expected: bool) -> None:
    assert parse(text)(values) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "column"), [("a ==", 5), ("a $ 1", 3), ("(a == 1", 8), ("3", 2), ("a in [1", 8)]
)
def test_expression_errors_name_the_column(text: str, column: int) -> None:
    with pytest.raises(ExprError) as err:
        parse(text)
    assert f"column {column}" in str(err.value)


def test_expression_lists_its_tags() -> None:
    assert parse("b == 1 and (a in [1] or not c)").tags == ("a", "b", "c")


PLANT = """\
version: 1
site: {enterprise: acme, site: s1}
devices:
  - id: plc-01
    protocol: modbus_tcp
    host: 127.0.0.1
    tags:
      - {name: alarm_code, address: 400001, type: uint16}
    state:
%s
"""


def _load_state(tmp_path: Path, state_yaml: str) -> str:
    file = tmp_path / "plant.yaml"
    file.write_text(PLANT % state_yaml, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_plant(file)
    return str(err.value)


def test_bad_condition_is_a_located_config_error_with_hint(tmp_path: Path) -> None:
    text = _load_state(tmp_path, "      conditions:\n        - {state: ALARM, when: 'alarm_code !! 0'}")
    assert "plant.yaml:11:" in text and "devices[0].state.conditions[0].when" in text
    assert "cannot parse condition" in text and "hint:" in text


def test_misspelt_template_suggests_the_right_one(tmp_path: Path) -> None:
    text = _load_state(tmp_path, "      template: stacklite\n      inputs: {red: r, green: g}")
    assert "plant.yaml:10:" in text and "did you mean 'stacklight'" in text


def test_debounce_error_is_located_inside_the_conditions_form(tmp_path: Path) -> None:
    text = _load_state(
        tmp_path, "      conditions: [{state: ALARM, when: alarm_code}]\n      debounce: {default: 5}"
    )
    assert "devices[0].state.debounce.default" in text and "has no unit" in text


def test_unknown_input_name_is_reported() -> None:
    with pytest.raises(ValidationError) as err:
        STATE.validate_python({"template": "stacklight", "inputs": {"red": "r", "green": "g", "blue": "b"}})
    assert "blue" in str(err.value)


def _conditions_machine(debounce: dict[str, str], micro_stop: str | None = None) -> StateMachine:
    cfg = STATE.validate_python(
        {
            "conditions": [
                {"state": "RUNNING", "when": "run"},
                {"state": "ALARM", "sub": "FAULT", "when": "alarm"},
                {"state": "STOPPED", "sub": "POWER_OFF", "when": "off"},
                {"state": "OFFLINE", "when": "dead"},
            ],
            "debounce": debounce,
            "micro_stop": micro_stop,
        }
    )
    return StateMachine("d", compile_state(cfg, stale_timeout_s=3600))


@given(run=st.booleans(), alarm=st.booleans(), off=st.booleans(), dead=st.booleans())
def test_precedence_offline_stopped_alarm_running_idle(run: bool, alarm: bool, off: bool, dead: bool) -> None:
    machine = _conditions_machine({"default": "0s"})
    [change] = machine.update(0, {"run": run, "alarm": alarm, "off": off, "dead": dead}, {})
    expected = (
        State.OFFLINE
        if dead
        else State.STOPPED
        if off
        else State.ALARM
        if alarm
        else State.RUNNING
        if run
        else State.IDLE
    )
    assert change.state is expected


_STEP = st.tuples(st.integers(1, 4000), st.sampled_from(["run", "alarm", "off", "idle", "comm_loss"]))


@settings(max_examples=200)
@given(steps=st.lists(_STEP, min_size=1, max_size=60))
def test_debounce_never_emits_a_short_interval_except_fast_states(steps: list[tuple[int, str]]) -> None:
    machine = _conditions_machine({"default": "5s", "ALARM": "0s", "OFFLINE": "0s"})
    t_min = {State.RUNNING: 5000, State.IDLE: 5000, State.STOPPED: 5000}
    ts, closed = 0, []
    for gap, what in steps:
        values = {"run": what == "run", "alarm": what == "alarm", "off": what == "off", "dead": False}
        for _ in range(2):  # a sample at the change and a poll a bit later
            changes = machine.update(ts, values, {}, comm_ok=what != "comm_loss")
            closed += [c.closed for c in changes if c.closed]
            ts += gap // 2 + 1
    for interval in closed:
        if interval.state in t_min:
            assert interval.end - interval.start >= t_min[interval.state], interval
    for prev, nxt in itertools.pairwise(closed):
        assert prev.end == nxt.start


def test_bad_key_input_is_offline_and_uncertain_is_recorded() -> None:
    cfg = STATE.validate_python(
        {"template": "stacklight", "inputs": {"red": "r", "green": "g"}, "debounce": {"default": "0s"}}
    )
    machine = StateMachine("d", compile_state(cfg))
    [first] = machine.update(0, {"r": 0, "g": 1}, {"g": UNCERTAIN_LAST_USABLE_VALUE})
    assert (first.state, first.q) == (State.RUNNING, UNCERTAIN_LAST_USABLE_VALUE)
    [second] = machine.update(1000, {}, {"g": BAD_TIMEOUT})
    assert (second.state, second.sub, second.bucket) == (State.OFFLINE, "BAD_QUALITY", Bucket.UNKNOWN)
    assert second.closed is not None and second.closed.end == 1000
    assert second.state_zh == "离线" and first.state_zh == "运行"


@pytest.mark.parametrize(
    ("overrides", "state", "sub"), [(True, State.ALARM, "FAULT"), (False, State.RUNNING, "WARNING")]
)
def test_red_with_green_is_configurable(overrides: bool, state: State, sub: str) -> None:
    cfg = STATE.validate_python(
        {
            "template": "stacklight",
            "inputs": {"red": "r", "green": "g"},
            "red_overrides_green": overrides,
            "debounce": {"default": "0s"},
        }
    )
    [change] = StateMachine("d", compile_state(cfg)).update(0, {"r": 1, "g": 1}, {})
    assert (change.state, change.sub) == (state, sub)


def test_all_lamps_off_without_power_input_follows_the_option() -> None:
    base = {"template": "stacklight", "inputs": {"red": "r", "green": "g"}, "debounce": {"default": "0s"}}
    for option, state in (("idle", State.IDLE), ("offline", State.OFFLINE)):
        cfg = STATE.validate_python({**base, "all_off": option})
        [change] = StateMachine("d", compile_state(cfg)).update(0, {"r": 0, "g": 0}, {})
        assert change.state is state


def test_a_switched_off_stack_light_without_power_input_is_offline_by_default() -> None:
    # All lamps dark and nothing says the power is on: counting it as an online IDLE machine would
    # credit a machine that is switched off (issue 15, bullet 3).
    cfg = STATE.validate_python(
        {"template": "stacklight", "inputs": {"red": "r", "green": "g"}, "debounce": {"default": "0s"}}
    )
    [change] = StateMachine("d", compile_state(cfg)).update(0, {"r": 0, "g": 0}, {})
    assert (change.state, change.sub, change.bucket) == (State.OFFLINE, "POWER_OFF", Bucket.UNKNOWN)


def test_a_tick_without_data_turns_the_state_stale_from_when_the_timeout_ran_out() -> None:
    cfg = STATE.validate_python(
        {"template": "stacklight", "inputs": {"red": "r", "green": "g"}, "debounce": {"default": "0s"}}
    )
    machine = StateMachine("d", compile_state(cfg, stale_timeout_s=10))
    machine.update(0, {"r": 0, "g": 1}, {})
    assert machine.tick(9_000) == [] and machine.tick(10_000) == []
    [stale] = machine.tick(12_500)  # the first tick past the timeout notices it
    assert (stale.state, stale.sub, stale.since) == (State.OFFLINE, "STALE", 10_000)
    assert stale.closed is not None and stale.closed.end - stale.closed.start == 10_000


def test_rule_hash_is_stable_and_changes_with_the_rule() -> None:
    a = compile_state(STATE.validate_python({"template": "stacklight", "inputs": {"red": "r", "green": "g"}}))
    b = compile_state(STATE.validate_python({"inputs": {"green": "g", "red": "r"}, "template": "stacklight"}))
    c = compile_state(
        STATE.validate_python(
            {"template": "stacklight", "inputs": {"red": "r", "green": "g"}, "blink_window": "3s"}
        )
    )
    assert a.ref == b.ref != c.ref and a.ref.startswith("stacklight@")


def test_stale_without_data_then_recovers() -> None:
    cfg = STATE.validate_python(
        {"conditions": [{"state": "RUNNING", "when": "run"}], "debounce": {"default": "0s"}}
    )
    machine = StateMachine("d", compile_state(cfg, stale_timeout_s=10))
    assert machine.update(0, {"run": True}, {})[0].state is State.RUNNING
    assert machine.tick(10_000) == []
    [stale] = machine.tick(10_001)
    assert (stale.state, stale.sub) == (State.OFFLINE, "STALE")
    assert machine.update(12_000, {}, {})[0].state is State.RUNNING


def test_example_plant_state_rules_compile_and_use_declared_tags() -> None:
    from collector.normalise.state import undeclared_tags

    plant = load_plant(Path(__file__).parents[2] / "configs" / "plant.yaml").config
    with_state = [d for d in plant.devices if d.state is not None]
    assert {d.id for d in with_state} >= {"cnc-01", "plc-01"}
    for device in with_state:
        assert device.state is not None
        rule = compile_state(device.state, device.effective_stale_timeout)
        assert undeclared_tags(rule, [t.name for t in device.tags]) == [], device.id
        assert {c.tag for c in device.counters} <= {t.name for t in device.tags}
    assert [s.name for s in plant.calendar.shifts] == ["A", "B"]
