"""``prune=given``: precomputed kept filter indices per layer, e.g. the authors' published ones
(conf/prune/authors_kept.yaml), so their exact pruned network can be rebuilt from a baseline.

Indices are 0-based filter numbers of the unpruned layer. They come inline (``kept: {C1: [0, 1, ...], ...}``; a
null entry means "not given here") and/or from ``kept_file``; inline entries override the file's for the same
layer. ``kept_file`` is one of

- a JSON or YAML file holding a mapping ``{C1: [...], C2: [...]}``;
- a NumPy ``.npy`` file (``np.save``) holding one layer's indices, named after the layer (``C1.npy``);
- a NumPy ``.npz`` file (``np.savez(f, C1=..., C2=...)``) with one array per layer, named by layer;
- a folder of ``<layer>.npy`` files: the authors publish ``Important_index_layerwise/C1.npy``, ``C2.npy``,
  ``C3.npy``, every ``*.npy`` in it is read, its stem naming the layer;
- a mapping ``{C1: path, ...}`` of layer → file, each file holding that layer's indices (``.npy``, JSON, YAML).

The format is recognised from the bytes (a NumPy file starts with ``\\x93NUMPY``, an ``.npz`` is a zip), not from
the name; pickled (object) arrays are refused. Relative paths are relative to the working directory. Indices must
be integers (any NumPy integer dtype; a NumPy float array only if every value is a whole number, since such files
are often written from float computations; booleans are refused: a mask is not a list of indices), unique, in
range for the layer's width, and at least one per pruned layer. :func:`check_kept` checks all of this when the
job is planned, :func:`kept_file_identity` keys the prune step on the files' content, not their paths.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from asc.core.errors import InputError
from asc.data.fingerprint import file_digest

from .criteria import Selection, register

_NPY_MAGIC = b"\x93NUMPY"
_FORMS = (
    "a JSON/YAML {layer: [indices]} file, a layer's np.save file named <layer>.npy, an .npz with arrays named "
    "by layer, a folder of <layer>.npy files, or a mapping {layer: file}"
)


class Kept:
    """One layer's raw indices and where they came from (the key or file an error message names)."""

    def __init__(self, values: Any, where: str) -> None:
        self.values, self.where = values, where


def _load_array(data: bytes | Any, where: str) -> np.ndarray:
    try:
        return np.load(data, allow_pickle=False)
    except ValueError as err:  # an object array needs pickle, which would run code from the file
        raise InputError(
            f"{where}: {err}; save plain integer arrays (np.save(f, np.asarray(idx, int)))"
        ) from None


def _read_file(path: Path, where: str, layer: str | None) -> dict[str, Kept]:
    """One file → {layer: Kept}. ``layer`` names the layer for a file holding one list (a mapping entry)."""
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise InputError(f"{where} {what}; give {_FORMS}")
    with open(path, "rb") as fh:
        head = fh.read(len(_NPY_MAGIC))
    if head == _NPY_MAGIC:
        name = layer or path.stem
        with open(path, "rb") as fh:
            return {name: Kept(_load_array(fh, where), where)}
    if zipfile.is_zipfile(path):
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: _load_array_member(archive, k, where) for k in archive.files}
        if layer is not None:
            raise InputError(
                f"{where} is an .npz archive; a mapping entry needs one layer's file (e.g. C1.npy)"
            )
        return {k: Kept(v, f"{where} (array {k})") for k, v in arrays.items()}
    try:
        text = path.read_text(encoding="utf-8-sig")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as err:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        first = str(err).splitlines()[0]
        raise InputError(
            f"{where} is neither a NumPy file nor valid {kind} ({first}); give {_FORMS}"
        ) from None
    if layer is not None:
        return {layer: Kept(data, where)}
    if not isinstance(data, Mapping):
        text_npy = path.suffix in (".npy", ".npz")  # np.savetxt or a hand-written list under a NumPy name
        raise InputError(
            f"{where} "
            + (
                "is text, not a NumPy file (np.save writes one)"
                if text_npy
                else f"holds a {type(data).__name__}"
            )
            + f", not a mapping {{layer: [indices]}}; give {_FORMS}"
        )
    return {str(k): Kept(v, f"{where} (entry {k})") for k, v in data.items()}


def _load_array_member(archive: Any, name: str, where: str) -> np.ndarray:
    try:
        return archive[name]
    except ValueError as err:
        raise InputError(f"{where} (array {name}): {err}; save plain integer arrays") from None


def _folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix == ".npy" and p.is_file())


def _file_table(spec: Any) -> dict[str, Kept]:
    """``kept_file`` (a path or a mapping layer → path) → {layer: Kept}."""
    if isinstance(spec, Mapping):
        table = {}
        for layer, path in spec.items():
            if path is not None:
                table.update(_read_file(Path(str(path)), f"prune.kept_file.{layer}={path}", str(layer)))
        return table
    path = Path(str(spec))
    where = f"prune.kept_file={spec}"
    if path.is_dir():
        files = _folder_files(path)
        if not files:
            raise InputError(f"{where} is a folder without <layer>.npy files (e.g. C1.npy); give {_FORMS}")
        table = {}
        for file in files:
            table.update(_read_file(file, f"{where} ({file.name})", None))
        return table
    return _read_file(path, where, None)


def read_kept(opts: Mapping[str, Any]) -> dict[str, Kept]:
    """The {layer: Kept} of ``kept_file`` updated with the non-null inline ``kept`` entries."""
    table = _file_table(opts["kept_file"]) if opts.get("kept_file") else {}
    for layer, values in dict(opts.get("kept") or {}).items():
        if values is not None:
            table[str(layer)] = Kept(values, f"prune.kept.{layer}")
    return table


def _missing(layer: str, table: Mapping[str, Kept], opts: Mapping[str, Any]) -> InputError:
    # The hint must work when pasted: Hydra refuses an override of a key the config lacks unless it has ``++``.
    plus = "" if layer in (opts.get("kept") or {}) else "++"
    file = opts.get("kept_file")
    source = f" (or {layer} to prune.kept_file={file})" if file and not isinstance(file, Mapping) else ""
    return InputError(
        f"prune=given has no kept indices for layer {layer} (have: {', '.join(sorted(table)) or 'none'}); add "
        f"{plus}prune.kept.{layer}=[0,1,...]{source} or drop {layer} from prune.layers"
    )


def _indices(kept: Kept, layer: str) -> list[int]:
    """One layer's raw indices as ints, in their order (type checks only); InputError naming the source."""
    raw = kept.values
    if isinstance(raw, np.ndarray):
        if raw.dtype == bool:
            raise InputError(f"{kept.where} holds booleans (a mask); give indices, e.g. np.flatnonzero(mask)")
        if raw.ndim > 1:
            raise InputError(
                f"{kept.where} has shape {raw.shape}; give a 1-D array of filter indices of {layer}"
            )
        flat = np.atleast_1d(raw)
        if (
            np.issubdtype(flat.dtype, np.floating)
            and np.all(np.isfinite(flat))
            and np.all(flat == np.round(flat))
        ):
            flat = flat.astype(np.int64)  # documented: whole-number floats from NumPy files are accepted
        if not np.issubdtype(flat.dtype, np.integer):
            odd = (
                flat[~np.isfinite(flat) | (flat != np.round(flat))]
                if np.issubdtype(flat.dtype, np.floating)
                else flat
            )
            shown = f"holds {odd[0].item()!r}, not a whole number" if odd.size else f"has dtype {flat.dtype}"
            raise InputError(f"{kept.where} {shown}; give integer filter indices of {layer}")
        idx = [int(i) for i in flat]
    else:
        ok = isinstance(raw, Sequence) and not isinstance(raw, str | bytes)
        if not ok or not all(
            isinstance(i, int | np.integer) and not isinstance(i, bool | np.bool_) for i in raw
        ):
            raise InputError(f"{kept.where}={raw!r} must be a list of integer filter indices of {layer}")
        idx = [int(i) for i in raw]
    return idx


def layer_indices(kept: Kept, layer: str, width: int) -> list[int]:
    """Validate one layer's raw indices against its width → sorted list of ints; InputError naming the source."""
    idx = _indices(kept, layer)
    bad = [i for i in idx if not 0 <= i < width]
    repeated = sorted({i for i in idx if idx.count(i) > 1})
    if bad or not idx or repeated:
        why = (
            f"indices {bad} are outside [0, {width})"
            if bad
            else (f"it repeats {repeated}" if repeated else "it is empty: keep at least one filter")
        )
        raise InputError(f"{kept.where}={idx}: {why}; layer {layer} has {width} filters (0-based)")
    return sorted(idx)


def check_kept(opts: Mapping[str, Any], widths: Mapping[str, int]) -> dict[str, list[int]]:
    """Every check of ``prune=given`` at planning time → {layer: sorted kept indices} for ``opts["layers"]``.

    ``opts``: the given criterion's config (``layers``, ``kept``, ``kept_file``); ``widths``: {layer: filters}
    of the unpruned model, e.g. ``dict(zip(conv_names(spec), spec["widths"]))``. Reads the files, checks that each
    names only the model's layers and that every pruned layer has integer, unique, in-range, non-empty indices.
    Raises InputError naming the key or file and the fix.
    """
    table = read_kept(opts)
    unknown = sorted(k for k in table if k not in widths)
    if unknown:
        raise InputError(
            f"{table[unknown[0]].where} names layer(s) {unknown}; the model's conv layers are {', '.join(widths)}"
        )
    layers = opts.get("layers") or list(widths)
    out = {}
    for layer in [layers] if isinstance(layers, str) else layers:
        if layer not in table:
            raise _missing(layer, table, opts)
        out[layer] = layer_indices(table[layer], layer, int(widths[layer]))
    return out


def kept_file_identity(opts: Mapping[str, Any]) -> Any:
    """What ``kept_file`` holds, for the prune step's key (None without one): ``{"sha256": hex}`` for a file,
    ``{"files": {name: hex}}`` for a folder (every ``*.npy`` in it: a folder is keyed by its files' content),
    ``{layer: {"sha256": hex}}`` for a mapping. Moving the files keeps it; editing one changes it. InputError if
    a path is missing."""
    spec = opts.get("kept_file")
    if not spec:
        return None
    if isinstance(spec, Mapping):
        return {
            str(k): kept_file_identity({"kept_file": v}) for k, v in sorted(spec.items()) if v is not None
        }
    path = Path(str(spec))
    if path.is_dir():
        return {"files": {p.name: file_digest(p) for p in _folder_files(path)}}
    if not path.is_file():
        raise InputError(f"prune.kept_file={spec} does not exist; give {_FORMS}")
    return {"sha256": file_digest(path)}


def keyed_config(opts: Mapping[str, Any], every_entry: bool = False) -> dict[str, Any]:
    """The given config as it keys the prune step: the kept indices it resolves to for the pruned layers (sorted:
    the selection is a set), wherever they come from. So the same indices inline, in JSON or YAML, in ``.npy``
    files, an ``.npz`` or a folder key the same artifact; an entry for a layer that is not pruned, or a file's
    bytes that say the same thing, change nothing; moving or editing a file changes the key only when the indices
    change. Reads the files (InputError naming a file or entry that is not indices). ``every_entry``: key every
    entry of the table (dependency-graph surgery, where globs and coupled layers select entries by the network).
    """
    out = {k: v for k, v in opts.items() if k not in ("kept", "kept_file")}
    table = read_kept(opts)
    layers = [opts["layers"]] if isinstance(opts.get("layers"), str) else list(opts.get("layers") or table)
    layers = sorted(table) if every_entry else layers
    out["kept"] = {layer: sorted(_indices(table[layer], layer)) for layer in layers if layer in table}
    return out


@register("given")
def given(weight: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
    """Keep exactly the listed filters of this layer (``opts["layer"]``), validated against its width."""
    layer = opts.get("layer")
    table = read_kept(opts)
    if layer not in table:
        raise _missing(layer, table, opts)
    return Selection(layer_indices(table[layer], layer, weight.shape[0]))
