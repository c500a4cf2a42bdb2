"""Settings dataclasses built from config dictionaries."""

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def dataclass_from_dict(cls: type[T], values: Mapping[str, Any], what: str) -> T:
    """cls(**values), refusing keys that are not fields of the dataclass (a misspelt setting).

    Args:
        cls: a dataclass.
        values: the settings by field name; fields left out take their defaults.
        what: the settings' name in the error message, e.g. "Carvana training".

    Returns:
        The dataclass instance.

    Raises:
        ValueError: a key is not a field of cls.
    """
    unknown = set(values) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {what} settings: {', '.join(sorted(unknown))}")
    return cls(**values)
