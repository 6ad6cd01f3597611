"""Planning checks of a zoo network's ``model`` config node, from its family's declaration (asc/nets/families.py):
only declared options, each of its declared kind, and an input the features config can feed. Torch-free; the
DCASE21/22 family keeps its own checks (asc/pipeline/validate.py), which also read its pools and widths."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asc.core.errors import ConfigError
from asc.nets.families import ANY, FLOAT, INT, INTS, SHAPE, STR, STRIDES, Family, check_input


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _ok(kind: str, v: Any) -> bool:
    seq = isinstance(v, list | tuple) or type(v).__name__ == "ListConfig"
    if kind == INT:
        return _is_int(v) and v >= 1
    if kind == FLOAT:
        return isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
    if kind == INTS:
        return seq and len(v) > 0 and all(_is_int(x) and x >= 1 for x in v)
    if kind == SHAPE:
        return seq and len(v) == 2 and all(_is_int(x) and x >= 1 for x in v)
    if kind == STR:
        return isinstance(v, str) and bool(v)
    if kind == STRIDES:
        return v is None or (
            isinstance(v, Mapping) and all(_ok(SHAPE, s) or (_is_int(s) and s >= 1) for s in v.values())
        )
    return kind == ANY


EXPECTED = {
    INT: "an integer >= 1",
    FLOAT: "a number >= 0",
    INTS: "a non-empty list of integers >= 1",
    SHAPE: "[mel bands, frames]",
    STR: "a non-empty string",
    STRIDES: "a mapping {block: [rows, columns]}",
}


def check_model(fam: Family, spec: Mapping[str, Any], features: Mapping[str, Any]) -> None:
    """ConfigError in one line naming the ``model.*`` key that the family does not take or cannot use."""
    kinds = fam.option_kinds
    for key, value in fam.kwargs(spec).items():
        if key not in kinds:
            raise ConfigError(
                f"model.{key}: model={fam.name} has no such option; its options: {sorted(kinds)}"
            )
        if not _ok(kinds[key], value):
            raise ConfigError(f"model.{key}={value!r} is not valid: expected {EXPECTED[kinds[key]]}")
    if fam.constructor.endswith("custom:build") and not spec.get("factory"):
        raise ConfigError(
            "model.factory is not set: model=custom needs model.factory=package.module:callable"
        )
    if "dropout" in spec and not float(spec["dropout"]) < 1.0:
        raise ConfigError(f"model.dropout={spec['dropout']} is not valid: expected a number in [0, 1)")
    why = check_input(spec, features)
    if why:
        raise ConfigError(
            f"{why}: use features={fam.front_end or spec.get('front_end')} (the network's front end)"
        )
    check_front_end(fam, spec, features)


# The features keys that define what one frame of the front end computes (asc/frontend/frontend_options.py's FrontEnd; its clip
# length (frames, stats_frames), padding and speed/precision knobs are not the network's front end).
DEFINING = (
    "sample_rate",
    "n_fft",
    "win_length",
    "hop_length",
    "n_mels",
    "fmin",
    "fmax",
    "window",
    "power",
    "mel_scale",
    "mel_norm",
    "log",
    "log_offset",
    "center",
    "preemphasis",
)


def front_end_differences(fam: Family, spec: Mapping[str, Any], features: Mapping[str, Any]) -> list[str]:
    """``key=given vs front end's`` for each :data:`DEFINING` key where ``features`` differs from the front end
    the network names (``conf/features/<front end>.yaml``: the family's ``front_end``, or ``model.front_end``
    of a custom network); empty when they agree, when the network names none, or for a value the front end
    takes from the dataset (an interpolation). Reads the yaml file only (torch-free)."""
    from asc.core.config_files import CONF_DIR, conf_file

    name = spec.get("front_end") or fam.front_end
    path = CONF_DIR / "features" / f"{name}.yaml"
    if not name or not path.is_file() or "sample_rate" not in features:  # (not a whole features node)
        return []
    own = conf_file(path)
    out = []
    for key in DEFINING:
        theirs = own.get(key)
        if isinstance(theirs, str) and "${" in theirs:
            continue
        given = features.get(key)
        same = given == theirs or (
            isinstance(given, int | float)
            and isinstance(theirs, int | float)
            and float(given) == float(theirs)
        )
        if not same:
            out.append(f"features.{key}={given} vs {theirs}")
    return out


def check_front_end(fam: Family, spec: Mapping[str, Any], features: Mapping[str, Any]) -> None:
    """ConfigError in one line when the features config computes another front end than the network's own
    (:func:`front_end_differences`), naming both configs, the first differences and the fix."""
    diff = front_end_differences(fam, spec, features)
    if diff:
        own = spec.get("front_end") or fam.front_end
        raise ConfigError(
            f"features={features.get('name')} is not the front end of model={fam.name} (features={own}): "
            f"{', '.join(diff[:3])}; use features={own}, or drop the features override"
        )
