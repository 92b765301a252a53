"""Load a plant file: assemble, validate, check, and report every problem in one pass."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from collector.config import equipment, register
from collector.config.assemble import Assembler, display_path
from collector.config.crosscheck import plant_problems
from collector.config.errors import ConfigError, Problem
from collector.config.overlap import overlap_problems
from collector.config.paths import anchored, missing_files, plant_folder
from collector.config.plant import PlantConfig
from collector.config.source import SourceMap, load_yaml
from collector.config.validate import problems_from_validation, semantic_problems


@dataclass(frozen=True)
class LoadedPlant:
    config: PlantConfig
    file: Path
    smap: SourceMap
    warnings: tuple[Problem, ...] = field(default=(), compare=False)  # `config check` prints them

    @property
    def base_dir(self) -> Path:
        return plant_folder(self.file)

    def resolve(self, path: Path) -> Path:
        """Paths in the config are relative to the plant file (load_plant made its own absolute)."""
        return path if path.is_absolute() else self.base_dir / path


def load_plant(file: Path | str) -> LoadedPlant:
    """The validated plant, or ConfigError listing every problem found (sorted by position)."""
    path = Path(file)
    assembler = Assembler(path)
    doc = assembler.assemble()
    problems: list[Problem] = list(assembler.problems)
    config: PlantConfig | None = None
    if doc is not None:
        problems.extend(semantic_problems(doc.data, doc.smap))
        problems.extend(register.problems(doc.data, doc.smap, _device_ids(doc.data)))
        try:
            config = anchored(PlantConfig.model_validate(doc.data), plant_folder(path))
        except ValidationError as exc:
            problems.extend(problems_from_validation(exc, doc.data, PlantConfig, doc.smap))
        else:
            problems.extend(plant_problems(config, doc.smap))
            problems.extend(missing_files(config, doc.smap))
            problems.extend(overlap_problems(config, doc.smap))
    if problems or config is None or doc is None:
        raise ConfigError(_sorted_unique(problems))
    return LoadedPlant(config, path, doc.smap, tuple(equipment.warnings(config, doc.smap)))


def _device_ids(data: object) -> list[str]:
    devices = data.get("devices") if isinstance(data, dict) else None
    return [str(d["id"]) for d in devices or [] if isinstance(d, dict) and "id" in d]


M = TypeVar("M", bound=BaseModel)


def load_model(file: Path | str, model: type[M]) -> M:
    """Any single-file YAML document validated as `model`, with the same located errors."""
    path = Path(file)
    problems: list[Problem] = []
    doc = load_yaml(path, display_path(path), problems)
    if doc is None:
        raise ConfigError(problems)
    problems.extend(semantic_problems(doc.data, doc.smap))
    try:
        result = model.model_validate(doc.data)
    except ValidationError as exc:
        problems.extend(problems_from_validation(exc, doc.data, model, doc.smap))
    if problems:
        raise ConfigError(_sorted_unique(problems))
    return result


def _sorted_unique(problems: list[Problem]) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for p in problems:
        text = p.render()
        if text not in seen:
            seen.add(text)
            out.append(p)

    def key(p: Problem) -> tuple[str, int, int]:
        loc = p.location
        return (loc.file, loc.line, loc.column) if loc else ("", 0, 0)

    return sorted(out, key=key)
