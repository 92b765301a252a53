"""Build one plant document from the plant file, its device files and device templates.

Templates and device files keep their own positions, so an error inside a template is reported at the
template's line, under the device path that used it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collector.config.errors import PathT, Problem
from collector.config.sheet_import import import_tables
from collector.config.source import Document, SourceMap, load_yaml

TEMPLATE_KEYS = {"description", "protocol", "defaults", "tags"}
_FAMILY = {"opcua": "opcua", "modbus_tcp": "modbus", "modbus_rtu": "modbus", "modbus_rtu_over_tcp": "modbus"}


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class Assembler:
    def __init__(self, plant_file: Path) -> None:
        self.plant_file = plant_file
        self.base = plant_file.parent
        self.problems: list[Problem] = []
        self._templates: dict[str, Document | None] = {}
        self._templates_rel = "templates"

    def assemble(self) -> Document | None:
        doc = load_yaml(self.plant_file, display_path(self.plant_file), self.problems)
        if doc is None or not isinstance(doc.data, dict):
            if doc is not None:
                self.problems.append(
                    Problem(doc.smap.locate(()), (), "the plant file must be a mapping", None)
                )
            return None
        if isinstance(doc.data.get("templates_dir"), str):
            self._templates_rel = doc.data["templates_dir"]
        devices = doc.data.get("devices")
        if devices is None:
            devices = doc.data["devices"] = []
        if isinstance(devices, list):
            self._add_device_files(doc, devices)
            for index, device in enumerate(devices):
                if isinstance(device, dict) and isinstance(device.get("template"), str):
                    self._apply_template(doc, ("devices", index), device)
        import_tables(doc, self.base, self.problems)
        return doc

    def _add_device_files(self, doc: Document, devices: list[Any]) -> None:
        rel = doc.data.get("devices_dir")
        if not isinstance(rel, str):
            return
        folder = self.base / rel
        if not folder.is_dir():
            self.problems.append(
                Problem(
                    doc.smap.locate(("devices_dir",)),
                    ("devices_dir",),
                    f"no folder {folder}",
                    "create it or fix the path (relative to the plant file)",
                )
            )
            return
        for file in sorted(folder.glob("*.y*ml")):
            sub = load_yaml(file, display_path(file), self.problems)
            if sub is None:
                continue
            index = len(devices)
            devices.append(sub.data)
            doc.smap.graft(sub.smap, (), ("devices", index))

    @property
    def templates_dir(self) -> Path:
        return self.base / self._templates_rel

    def _template(self, name: str) -> Document | None:
        if name not in self._templates:
            file = self.templates_dir / f"{name}.yaml"
            self._templates[name] = (
                load_yaml(file, display_path(file), self.problems) if file.exists() else None
            )
        return self._templates[name]

    def template_names(self) -> list[str]:
        folder = self.templates_dir
        return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []

    def _apply_template(self, doc: Document, dpath: PathT, device: dict[str, Any]) -> None:
        name = device["template"]
        tpl = self._template(name)
        if tpl is None:
            known = ", ".join(self.template_names()) or "none found"
            self.problems.append(
                Problem(
                    doc.smap.locate((*dpath, "template")),
                    (*dpath, "template"),
                    f"unknown template {name!r}",
                    f"templates are files in {display_path(self.templates_dir)}/; known: {known}",
                )
            )
            return
        if not isinstance(tpl.data, dict):
            return
        for key in tpl.data:
            if key not in TEMPLATE_KEYS:
                self.problems.append(
                    Problem(
                        tpl.smap.locate((key,), key=True),
                        (key,),
                        f"unknown template key {key!r}",
                        f"a template has only: {', '.join(sorted(TEMPLATE_KEYS))}",
                    )
                )
        family = tpl.data.get("protocol")
        if family and _FAMILY.get(str(device.get("protocol"))) not in (None, family):
            self.problems.append(
                Problem(
                    doc.smap.locate((*dpath, "template")),
                    (*dpath, "template"),
                    f"template {name!r} is for {family} devices, not {device.get('protocol')}",
                    "pick a template of the device's protocol family",
                )
            )
            return
        self._merge_defaults(doc, tpl, dpath, device)
        self._merge_tags(doc, tpl, dpath, device)

    @staticmethod
    def _merge_defaults(doc: Document, tpl: Document, dpath: PathT, device: dict[str, Any]) -> None:
        defaults = tpl.data.get("defaults") or {}
        if isinstance(defaults, dict):
            for key, value in defaults.items():
                if key not in device:
                    device[key] = value
                    doc.smap.graft(tpl.smap, ("defaults", key), (*dpath, key))

    @staticmethod
    def _merge_tags(doc: Document, tpl: Document, dpath: PathT, device: dict[str, Any]) -> None:
        """Template tags, then the device's own; a device tag replaces a template tag of the same name."""
        tpl_tags = tpl.data.get("tags") or []
        own = device.get("tags") or []
        if not isinstance(tpl_tags, list) or not isinstance(own, list):
            return
        own_names = {t.get("name") for t in own if isinstance(t, dict)}
        smap = SourceMap()
        merged: list[Any] = []
        for index, tag in enumerate(tpl_tags):
            if isinstance(tag, dict) and tag.get("name") in own_names:
                continue
            smap.graft(tpl.smap, ("tags", index), (*dpath, "tags", len(merged)))
            merged.append(tag)
        for index, tag in enumerate(own):
            smap.graft(doc.smap, (*dpath, "tags", index), (*dpath, "tags", len(merged)))
            merged.append(tag)
        # Replace the positions of the device's own tags with those of the merged list.
        prefix = (*dpath, "tags")
        for table in (doc.smap.values, doc.smap.keys):
            for path in [p for p in table if len(p) > len(prefix) and p[: len(prefix)] == prefix]:
                del table[path]
        doc.smap.graft(smap, prefix, prefix)
        device["tags"] = merged
