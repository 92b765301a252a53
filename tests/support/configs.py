"""Validate any YAML file under configs/ by what it is: plant, template, device file or scenario."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from collector.config import ConfigError, load_plant

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
_PROTOCOL_FOR_FAMILY = {
    "modbus": "modbus_tcp\n    host: 127.0.0.1",
    "opcua": "opcua\n    endpoint: opc.tcp://h:4840/",
}


def _plants() -> list[Path]:
    return [
        p
        for p in CONFIGS.rglob("*.y*ml")
        if CONFIGS / "sim" not in p.parents and "site" in (YAML(typ="safe").load(p.read_text()) or {})
    ]


def validate_any(path: Path) -> None:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    if CONFIGS / "sim" in path.parents:
        from simulators.scenario import load_scenario

        load_scenario(path)
    elif "site" in data:
        load_plant(path)
    elif path.parent.name == "templates":
        _validate_template(path, data)
    else:
        users = [p for p in _plants() if _device_dir_of(p) == path.parent]
        assert users, f"{path} is not a plant, template, device file of a plant, or simulator scenario"
        for plant in users:
            load_plant(plant)


def _device_dir_of(plant: Path) -> Path | None:
    data = YAML(typ="safe").load(plant.read_text(encoding="utf-8")) or {}
    rel = data.get("devices_dir")
    return (plant.parent / rel).resolve() if rel else None


def _validate_template(path: Path, data: dict[str, object]) -> None:
    family = str(data.get("protocol", "modbus"))
    text = (
        "version: 1\nsite: {enterprise: t, site: t}\n"
        f"templates_dir: {path.parent}\n"
        f"devices:\n  - id: probe\n    protocol: {_PROTOCOL_FOR_FAMILY[family]}\n    template: {path.stem}\n"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        plant = Path(tmp) / "plant.yaml"
        plant.write_text(text, encoding="utf-8")
        load_plant(plant)


HEAD = "version: 1\nsite: {enterprise: acme, site: s1}\n"


def problems_of(path: Path) -> list[str]:
    """The rendered problems of a plant file that must not load."""
    try:
        load_plant(path)
    except ConfigError as exc:
        return [p.render() for p in exc.problems]
    raise AssertionError(f"{path} loaded; problems were expected")


def write(folder: Path, text: str, name: str = "plant.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
