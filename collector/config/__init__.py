"""Plant configuration: YAML with located errors, validated by pydantic before any I/O."""

from collector.config.errors import ConfigError, Location, Problem
from collector.config.loader import LoadedPlant, load_plant
from collector.config.plant import PlantConfig

__all__ = ["ConfigError", "LoadedPlant", "Location", "PlantConfig", "Problem", "load_plant"]
