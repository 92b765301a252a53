"""The plant configuration as it may be shown to an evaluator: every secret replaced by "<redacted>".

redacted_config(plant)   # JSON-able dict (paths kept, secrets gone): 12_config/ of the evidence pack
config_hash(plant)       # "sha256:<hex>" of its canonical JSON: COLLECTOR_START / CONFIG_CHANGE
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, SecretStr

from collector.config.errors import hide_url_password
from collector.config.plant import PlantConfig

REDACTED = "<redacted>"
# By name too, so a secret typed as plain str in some future model still never leaks.
_SECRET_NAME = re.compile(r"(^|_)(password|passwd|token|secret|api_key)$")


def redacted_config(plant: PlantConfig) -> dict[str, Any]:
    dumped = plant.model_dump(mode="json")
    _redact(plant, dumped)
    return dumped


def config_hash(plant: PlantConfig) -> str:
    text = json.dumps(redacted_config(plant), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _redact(model: object, dumped: object) -> object:
    """Walk the model beside its JSON dump; returns the replacement for `dumped`."""
    if isinstance(model, SecretStr):
        return REDACTED
    if isinstance(model, str) and isinstance(dumped, str):
        return hide_url_password(dumped, REDACTED)
    if isinstance(model, BaseModel) and isinstance(dumped, dict):
        for name in type(model).model_fields:
            if name not in dumped:
                continue
            value = getattr(model, name)
            if value is not None and _SECRET_NAME.search(name) and not isinstance(value, bool):
                dumped[name] = REDACTED
            else:
                dumped[name] = _redact(value, dumped[name])
    elif isinstance(model, list | tuple) and isinstance(dumped, list):
        for i, (item, out) in enumerate(zip(model, dumped, strict=False)):
            dumped[i] = _redact(item, out)
    elif isinstance(model, dict) and isinstance(dumped, dict):
        for key, item in model.items():
            if str(key) in dumped:
                dumped[str(key)] = _redact(item, dumped[str(key)])
    return dumped
