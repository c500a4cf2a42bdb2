"""Settings dataclasses built from config dictionaries."""

from dataclasses import fields


def dataclass_from_dict(cls, values, what):
    """cls(**values), refusing keys that are not fields of the dataclass (a misspelt setting).

    what: the settings' name in the error message, e.g. "Carvana training".
    """
    unknown = set(values) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {what} settings: {', '.join(sorted(unknown))}")
    return cls(**values)
