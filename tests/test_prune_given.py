"""prune=given reads kept indices the way people save them (JSON, YAML, np.save per layer, .npz, a folder) and
check_kept refuses wrong ones at planning time, naming the key or file; the prune key follows the files' content."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from model_fixtures import randomised_model

from asc.core.errors import InputError
from asc.prune import prune_model
from asc.prune.given import check_kept, kept_file_identity, keyed_config

WIDTHS = {"C1": 16, "C2": 16, "C3": 32}
CFG = {"name": "given", "layers": ["C1", "C2", "C3"], "kept": {"C1": None, "C2": None, "C3": None}}
WANT = {"C1": [0, 1, 2], "C2": [3, 5], "C3": [7, 31]}


@pytest.fixture
def authors_folder(tmp_path: Path) -> Path:
    """The authors' Important_index_layerwise/ layout: one np.save file per layer (unsorted, int64)."""
    folder = tmp_path / "Important_index_layerwise"
    folder.mkdir()
    for layer, idx in WANT.items():
        np.save(folder / f"{layer}.npy", np.array(idx[::-1], dtype=np.int64))
    return folder


def test_the_authors_npy_folder_is_read(authors_folder: Path) -> None:
    assert check_kept({**CFG, "kept_file": str(authors_folder)}, WIDTHS) == WANT
    _, info = prune_model(randomised_model(), {**CFG, "kept_file": str(authors_folder)})
    assert info["kept"] == WANT and info["widths"] == [3, 2, 2]


def test_single_npy_npz_json_yaml_and_a_mapping_of_files(tmp_path: Path, authors_folder: Path) -> None:
    np.save(tmp_path / "C1.npy", np.array([2, 0, 1], dtype=np.int16))  # the stem names the layer
    cfg = {**CFG, "layers": ["C1"]}
    assert check_kept({**cfg, "kept_file": str(tmp_path / "C1.npy")}, WIDTHS) == {"C1": [0, 1, 2]}
    np.savez(tmp_path / "k.npz", **{k: np.array(v, dtype=np.uint8) for k, v in WANT.items()})
    assert check_kept({**CFG, "kept_file": str(tmp_path / "k.npz")}, WIDTHS) == WANT
    (tmp_path / "k.json").write_text(json.dumps(WANT))
    assert check_kept({**CFG, "kept_file": str(tmp_path / "k.json")}, WIDTHS) == WANT
    (tmp_path / "k.yaml").write_text("\ufeffC1: [0, 1, 2]\nC2: [3, 5]\nC3: [7, 31]\n")  # a BOM is no content
    assert check_kept({**CFG, "kept_file": str(tmp_path / "k.yaml")}, WIDTHS) == WANT
    files = {k: str(authors_folder / f"{k}.npy") for k in WANT}
    files["C2"] = str(tmp_path / "c2.json")
    (tmp_path / "c2.json").write_text("[5, 3]")
    assert check_kept({**CFG, "kept_file": files}, WIDTHS) == WANT
    floats = tmp_path / "C3.npy"
    np.save(floats, np.array([7.0, 31.0]))  # documented: whole-number floats from NumPy files pass
    assert check_kept({**CFG, "layers": ["C3"], "kept_file": str(floats)}, WIDTHS) == {"C3": [7, 31]}


def test_inline_entries_win_and_nulls_defer_to_the_file(authors_folder: Path) -> None:
    cfg = {**CFG, "kept": {"C1": [9], "C2": None, "C3": None}, "kept_file": str(authors_folder)}
    assert check_kept(cfg, WIDTHS) == {**WANT, "C1": [9]}


@pytest.mark.parametrize(
    ("write", "match"),
    [
        (
            lambda p: np.save(p / "C1.npy", np.array([0, 16])),
            r"C1.npy\)=\[0, 16\]: indices \[16\] are outside",
        ),
        (lambda p: np.save(p / "C1.npy", np.array([1, 1])), r"C1.npy\)=\[1, 1\]: it repeats \[1\]"),
        (lambda p: np.save(p / "C1.npy", np.array([], dtype=int)), r"C1.npy\)=\[\]: it is empty"),
        (lambda p: np.save(p / "C1.npy", np.array([0.5, 1.0])), r"C1.npy\) holds 0.5, not a whole number"),
        (lambda p: np.save(p / "C1.npy", np.array([True, False])), r"C1.npy\) holds booleans.*flatnonzero"),
        (lambda p: np.save(p / "C1.npy", np.array([[0, 1]])), r"C1.npy\) has shape \(1, 2\)"),
        (lambda p: np.save(p / "C1.npy", np.array([[0], "a"], dtype=object)), r"C1.npy\): Object arrays"),
        (lambda p: np.save(p / "C4.npy", np.array([0])), r"C4.npy\) names layer\(s\) \['C4'\].*C1, C2, C3"),
        (
            lambda p: (p / "C3.npy").unlink(),
            r"no kept indices for layer C3 \(have: C1, C2\); add prune.kept.C3=",
        ),
    ],
    ids=["range", "repeat", "empty", "float", "mask", "2d", "pickle", "layer", "missing"],
)
def test_wrong_indices_name_the_file_and_the_fix(authors_folder: Path, write, match: str) -> None:
    write(authors_folder)
    with pytest.raises(InputError, match=match) as err:
        check_kept({**CFG, "kept_file": str(authors_folder)}, WIDTHS)
    assert "\n" not in str(err.value) and "Important_index_layerwise" in str(err.value)


@pytest.mark.parametrize(
    ("kept", "match"),
    [
        ({"C1": [0, 1.0]}, r"prune.kept.C1=\[0, 1.0\] must be a list of integer"),
        ({"C1": [True]}, r"prune.kept.C1=\[True\] must be a list of integer"),
        ({"C1": "0,1"}, r"prune.kept.C1='0,1' must be a list"),
        ({"C1": [0, 99]}, r"prune.kept.C1=\[0, 99\]: indices \[99\] are outside \[0, 16\)"),
    ],
)
def test_wrong_inline_indices_name_the_key(kept, match: str) -> None:
    with pytest.raises(InputError, match=match):
        check_kept({**CFG, "layers": ["C1"], "kept": kept}, WIDTHS)


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{C1: [0")
    with pytest.raises(InputError, match=r"kept_file=.*bad.json is neither a NumPy file nor valid JSON"):
        check_kept({**CFG, "kept_file": str(tmp_path / "bad.json")}, WIDTHS)
    (tmp_path / "list.yaml").write_text("[0, 1]")
    with pytest.raises(InputError, match=r"list.yaml holds a list, not a mapping"):
        check_kept({**CFG, "kept_file": str(tmp_path / "list.yaml")}, WIDTHS)
    np.savez(tmp_path / "anon.npz", np.array([0]), np.array([1]))  # arr_0, arr_1: not layers
    with pytest.raises(InputError, match=r"anon.npz \(array arr_0\) names layer\(s\) \['arr_0', 'arr_1'\]"):
        check_kept({**CFG, "kept_file": str(tmp_path / "anon.npz")}, WIDTHS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"kept_file=.*empty is a folder without <layer>.npy files"):
        check_kept({**CFG, "kept_file": str(tmp_path / "empty")}, WIDTHS)
    with pytest.raises(InputError, match=r"kept_file=.*nope does not exist"):
        check_kept({**CFG, "kept_file": str(tmp_path / "nope")}, WIDTHS)


def test_missing_layer_hint_works_when_pasted() -> None:
    """A key the config lacks needs Hydra's ++; one it has (the scaffold in conf/prune/given.yaml) does not."""
    from config_fixtures import composed

    with pytest.raises(InputError, match=r"add prune.kept.C2=\[0,1,...\]"):
        check_kept({**CFG, "kept": {"C1": [0], "C2": None, "C3": None}}, WIDTHS)
    with pytest.raises(InputError, match=r"add \+\+prune.kept.C2=\[0,1,...\]"):
        check_kept({**CFG, "kept": {"C1": [0]}}, WIDTHS)  # no scaffold entry for C2
    cfg = composed("prune=given", "prune.kept.C1=[0,1]", "prune.kept.C2=[2]", "prune.kept.C3=[3]")["prune"]
    assert check_kept(cfg, WIDTHS) == {"C1": [0, 1], "C2": [2], "C3": [3]}
    again = composed("prune=authors_kept", "++prune.kept.C4=[0]", "prune.layers=[C1]")["prune"]
    assert again["kept"]["C4"] == [0]


def test_the_key_follows_the_indices_not_the_files(tmp_path: Path, authors_folder: Path) -> None:
    cfg = {**CFG, "kept_file": str(authors_folder)}
    first = keyed_config(cfg)
    moved = shutil.move(authors_folder, tmp_path / "elsewhere")
    assert keyed_config({**cfg, "kept_file": str(moved)}) == first  # moved: the same artifact
    # The same indices in another form (a JSON file, inline) key the same artifact: the files' bytes do not matter.
    (tmp_path / "k.json").write_text(json.dumps({k: list(map(int, v)) for k, v in first["kept"].items()}))
    assert keyed_config({**CFG, "kept_file": str(tmp_path / "k.json")}) == first
    assert keyed_config({**CFG, "kept": first["kept"]}) == first
    # An entry for a layer that is not pruned changes nothing; other indices for a pruned one do.
    only_c1 = {**cfg, "kept_file": str(moved), "layers": ["C1"]}
    np.save(Path(moved) / "C2.npy", np.array([3, 6]))
    assert keyed_config(only_c1) == keyed_config({**only_c1, "kept_file": str(tmp_path / "k.json")})
    assert keyed_config({**cfg, "kept_file": str(moved)}) != first
    assert set(kept_file_identity(cfg | {"kept_file": str(moved)})["files"]) == {"C1.npy", "C2.npy", "C3.npy"}
