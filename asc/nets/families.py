"""The network zoo's declarations, torch-free: what planning needs to know about each family (front end, input
shape, classes, whether fused training and the exact hand surgery apply, what is never pruned, the published
parameter count and its source, the constructor options). Planning asks a :class:`Family`, never compares names;
:func:`asc.nets.build` imports the network module (and torch) only when a network is built.

Every family here has a module under asc/nets/ with its layer table in the docstring and a ``conf/model/<name>.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from asc.nets import counts as formulas

# Kinds of constructor options (validation checks a value against its kind; see asc.nets.options).
INT, FLOAT, INTS, STR, STRIDES, SHAPE, ANY = "int", "float", "ints", "str", "strides", "shape", "any"


@dataclass(frozen=True)
class Family:
    """One network family of the zoo.

    ``constructor`` is ``module:callable`` under asc.nets (imported lazily); ``front_end`` the name of the
    ``conf/features/<name>.yaml`` its published inputs come from; ``input_shape`` the published input (mel bands,
    frames) — the network built takes :func:`input_shape_of` (the model config's ``input_shape`` where the family
    has that option, else the features config's n_mels × frames), checked by :func:`check_input`; ``fusable``: same-shape networks train fused (asc/training/fused.py); ``exact_surgery``: the
    family keeps asc's hand surgery (asc/prune/surgery.py); ``ignored``: module-path globs never pruned unless asked
    (classifier head, front-end normalisation); ``published_params`` with ``source`` (``published_counts_bn_stats``:
    the published count includes BatchNorm moving statistics, as Keras counts); ``options``: constructor keyword
    → kind (:data:`INT` …), the only keys a ``model`` config node may hold besides ``name``; ``patches``: the
    patch geometry (patch_frames, patch_hop) of a network that scores a clip by the mean of its patches'
    softmaxes (the model config's ``patch_frames`` / ``patch_hop`` override it), which lets it train on patches
    (``train.examples=patches``, asc/training/patch_examples.py); None: the network scores whole clips.
    ``counts``: the family's torch-free formula (asc/nets/counts.py), (spec, (mel bands, frames)) →
    ``{"params", "macs"}`` (values a checkpoint holds, MACs per clip), which planning uses instead of building
    the network on torch's meta device; None: counted as built.
    """

    name: str
    constructor: str
    front_end: str
    n_classes: int
    options: tuple[tuple[str, str], ...]
    fusable: bool = False
    exact_surgery: bool = False
    ignored: tuple[str, ...] = ()
    input_shape: tuple[int, int] | None = None
    published_params: int | None = None
    published_counts_bn_stats: bool = False
    source: str = ""
    clip_seconds: float | None = None
    patches: tuple[int, int] | None = None
    counts: Callable[[Mapping[str, Any], Sequence[int]], dict[str, int]] | None = None

    @property
    def option_kinds(self) -> dict[str, str]:
        return dict(self.options)

    def kwargs(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """The constructor keywords of a ``model`` config node (``name`` dropped)."""
        return {k: v for k, v in spec.items() if k != "name"}


_DCASE_OPTIONS = (
    ("widths", INTS),
    ("kernel", INT),
    ("pools", ANY),
    ("dropout", FLOAT),
    ("dense", INT),
    ("n_classes", INT),
    ("input_shape", SHAPE),
    ("bn_eps", FLOAT),
    ("bn_momentum", FLOAT),
)
_PANNS_HEAD = ("bn0", "fc_audioset")
_PANNS_SOURCE = "Kong et al., PANNs, IEEE/ACM TASLP 2020, table of architectures (front end excluded)"

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "dcase21",
            "asc.nets.dcase:build",
            "logmel40x500",
            10,
            _DCASE_OPTIONS,
            fusable=True,
            exact_surgery=True,
            ignored=("classifier.*",),
            input_shape=(40, 500),
            published_params=46_246,
            published_counts_bn_stats=True,
            source="DCASE 2021 Task 1A baseline (docs/dcase2021_baseline.md: Keras count)",
            counts=formulas.dcase,
        ),
        Family(
            "dcase22",
            "asc.nets.dcase:build",
            "logmel40x51",
            10,
            _DCASE_OPTIONS,
            fusable=True,
            exact_surgery=True,
            ignored=("classifier.*",),
            input_shape=(40, 51),
            published_params=46_246,
            published_counts_bn_stats=True,
            source="DCASE 2022 Task 1 baseline (docs/tau2022_mobile.md §5: Keras count)",
            counts=formulas.dcase,
        ),
        Family(
            "dcase2024",
            "asc.nets.dcase2024:Dcase2024Net",
            "dcase2024",
            10,
            (
                ("n_classes", INT),
                ("base_channels", INT),
                ("channels_multiplier", FLOAT),
                ("expansion_rate", FLOAT),
                ("n_blocks", INTS),
                ("strides", STRIDES),
            ),
            ignored=("feed_forward.*",),
            input_shape=(256, 65),
            published_params=61_148,
            source="DCASE 2024/2025 Task 1 baseline README (CPJKU dcase2024_task1_baseline): 61,148 parameters",
            clip_seconds=1.0,
        ),
        Family(
            "vggish_asc",
            "asc.nets.vggish_asc:VGGishASC",
            "vggish64",
            10,
            (
                ("widths", INTS),
                ("dense", INTS),
                ("n_classes", INT),
                ("n_mels", INT),
                ("patch_frames", INT),
                ("patch_hop", INT),
            ),
            ignored=("out",),
            input_shape=(64, 96),
            patches=(96, 48),  # VGGishASC's patch_frames, patch_hop defaults: 19 patches per 10-s clip
            published_params=55_361_162,
            source="Singh & Plumbley's Keras VGGish_Net (Fine_tuning_VGGish_Net.py; reference/networks.md §1.1)",
            counts=formulas.vggish,
        ),
        *(
            Family(
                f"panns_{name}",
                f"asc.nets.panns:{ctor}",
                "panns64",
                527,
                options,
                ignored=_PANNS_HEAD,
                input_shape=(64, 1001),
                published_params=count,
                source=_PANNS_SOURCE,
            )
            for name, ctor, count, options in (
                ("cnn14", "cnn14", 80_753_615, (("widths", INTS), ("n_classes", INT), ("n_mels", INT))),
                ("cnn10", "cnn10", 5_219_279, (("widths", INTS), ("n_classes", INT), ("n_mels", INT))),
                (
                    "resnet38",
                    "ResNet38",
                    73_783_247,
                    (("widths", INTS), ("blocks", INTS), ("head", INT), ("n_classes", INT), ("n_mels", INT)),
                ),
            )
        ),
        *(
            Family(
                f"efficientat_{name}",
                f"asc.nets.efficientat:{name}",
                "efficientat128",
                527,
                (("n_classes", INT), ("dropout", FLOAT), ("se_agg", STR), ("in_conv_stride", INT)),
                ignored=("classifier.5",),
                input_shape=(128, 1000),
                published_params=count,
                source="EfficientAT README (fschmid56/EfficientAT): mn04 0.983 M, mn10 4.88 M parameters",
            )
            for name, count in (("mn04", 983_599), ("mn10", 4_876_831))
        ),
        Family(
            "custom",
            "asc.nets.custom:build",
            "",  # the model config names it: model.front_end
            10,
            (
                ("factory", STR),
                ("front_end", STR),
                ("input_shape", SHAPE),
                ("n_classes", INT),
                ("kwargs", ANY),
            ),
        ),
    )
}


def family_of(spec: Mapping[str, Any]) -> Family:
    """The family a ``model`` config node names (``spec['name']``); ValueError naming the choices otherwise."""
    name = spec.get("name")
    if name not in FAMILIES:
        raise ValueError(f"model.name={name!r} is not a zoo network; choose one of {sorted(FAMILIES)}")
    return FAMILIES[name]


def front_end_of(spec: Mapping[str, Any]) -> str:
    """The features config a model config's network is published with (``model.front_end`` for custom)."""
    fam = family_of(spec)
    return str(spec.get("front_end") or fam.front_end)


def input_shape_of(spec: Mapping[str, Any], features: Mapping[str, Any]) -> tuple[int, int]:
    """(mel bands, frames) the network takes: the model config's ``input_shape`` when it has one, else the
    features config's (n_mels, frames)."""
    if spec.get("input_shape") is not None:
        shape = spec["input_shape"]
        return int(shape[0]), int(shape[1])
    return int(features["n_mels"]), int(features["frames"])


def front_end_input_shape(spec: Mapping[str, Any]) -> tuple[int, int]:
    """(mel bands, frames) of one clip through the front end the network of ``spec`` names (its
    ``conf/features/<front end>.yaml``: n_mels × frames; the model config's ``input_shape`` or ``n_mels`` where
    it has them): the input an exported network is traced and checked on (asc-export). Raises ValueError when
    the network names no front end and has no input_shape (a custom network without ``front_end``)."""
    import yaml

    from asc.core.config_files import CONF_DIR

    if spec.get("input_shape") is not None:
        return int(spec["input_shape"][0]), int(spec["input_shape"][1])
    name = front_end_of(spec)
    path = CONF_DIR / "features" / f"{name}.yaml"
    if not name or not path.is_file():
        raise ValueError(
            f"model={spec.get('name')} names no front end (features config {name!r} not found): give it "
            "model.front_end=<features config> or model.input_shape=[mel bands, frames]"
        )
    f = yaml.safe_load(path.read_text())
    return int(spec.get("n_mels") or f["n_mels"]), int(f["frames"])


def check_input(spec: Mapping[str, Any], features: Mapping[str, Any]) -> str | None:
    """Why the features config cannot feed the network of ``spec`` (one line), or None when it can: a fixed
    ``input_shape`` must equal (n_mels, frames); ``n_mels`` (a BatchNorm or patch over the mel bins) must equal
    features.n_mels; ``patch_frames`` must fit in features.frames."""
    mels, frames = int(features["n_mels"]), int(features["frames"])
    shape = spec.get("input_shape")
    if shape is not None and (int(shape[0]), int(shape[1])) != (mels, frames):
        return f"model.input_shape={list(shape)} but the features are {mels} x {frames} (features.n_mels, frames)"
    if spec.get("n_mels") is not None and int(spec["n_mels"]) != mels:
        return f"model.n_mels={spec['n_mels']} but features.n_mels={mels}"
    if spec.get("patch_frames") is not None and int(spec["patch_frames"]) > frames:
        return f"model.patch_frames={spec['patch_frames']} exceeds features.frames={frames}"
    return None
