"""Training on patches (``train.examples=patches``, ``finetune.examples``): each training example is one patch of
a clip's features, with the clip's label, as the authors trained VGGish_Net (Singh & Plumbley's
Fine_tuning_VGGish_Net.py: 96 × 64 log-mel patches, 19 per 10-s clip of DCASE 2018 Task 1A; reference/networks.md
§1.1). Selection and evaluation stay on clips: a network with a patch geometry (:attr:`asc.nets.families.Family.
patches`) scores a clip by the mean of its patches' softmaxes (:func:`clip_probabilities`; the authors sum the 19
softmaxes and take the argmax, which the mean does not change: probabilities, not logits, are averaged, as they
do). ``clips`` (the default): one example per clip, the network's clip-level output trained directly.

Patches are cut as the network cuts a clip: ``patch_frames`` frames every ``patch_hop`` frames from frame 0,
trailing frames that fill no patch dropped, so a clip of F frames has ``(F − patch_frames) // patch_hop + 1``
patches. Patch p of clip i is example ``i · P + p``. The training tensors are not copied: :class:`PatchView`
slices each mini-batch's patches out of the clips' features.

Config: ``train.examples`` (conf/train/baseline.yaml), ``finetune.examples`` (``${train.examples}``; the
iterative schedule's short fine-tunes follow it). Keyed only when ``patches`` (existing keys stay); refused at
planning for a family without a patch geometry. Torch is imported only where tensors are handled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asc.core.errors import ConfigError

KEY = "examples"
CLIPS, PATCHES = "clips", "patches"
EXAMPLES = (CLIPS, PATCHES)


def examples(stage_cfg: Mapping[str, Any]) -> str:
    """The stage config's ``examples`` (absent: ``clips``)."""
    return str(stage_cfg.get(KEY) or CLIPS)


def keyed(stage_cfg: Mapping[str, Any]) -> dict[str, str]:
    """``{examples: patches}`` when on, else nothing: a clip-trained recipe's key is unchanged."""
    return {KEY: PATCHES} if examples(stage_cfg) == PATCHES else {}


def check(prefix: str, stage_cfg: Mapping[str, Any], family: Any) -> None:
    """ConfigError in one line when ``<prefix>.examples`` is not one of :data:`EXAMPLES`, or is ``patches`` for a
    ``family`` (:class:`asc.nets.families.Family`) without a patch geometry, or one that trains fused."""
    value = stage_cfg.get(KEY) or CLIPS
    if value not in EXAMPLES:
        raise ConfigError(f"{prefix}.{KEY}={value!r} is not valid: choose one of {', '.join(EXAMPLES)}")
    if value == PATCHES and (family.patches is None or family.fusable):
        raise ConfigError(
            f"{prefix}.{KEY}=patches: model={family.name} declares no patch geometry (it scores whole clips); "
            f"set {prefix}.{KEY}=clips"
        )


def geometry(spec: Mapping[str, Any], family: Any) -> tuple[int, int]:
    """(patch_frames, patch_hop) of the network of the ``model`` config ``spec``: the config's ``patch_frames`` /
    ``patch_hop`` where given, else the family's declared defaults. ValueError when the family has none."""
    if family.patches is None:
        raise ValueError(f"model={family.name} declares no patch geometry")
    frames, hop = family.patches
    return int(spec.get("patch_frames") or frames), int(spec.get("patch_hop") or hop)


def per_example_clip(
    stage_cfg: Mapping[str, Any], spec: Mapping[str, Any], features: Mapping[str, Any]
) -> int:
    """Training examples per clip of a train / finetune / perdevice config (``stage_cfg``) on the ``model`` config
    ``spec`` and ``features`` config, torch-free for planning: the patches of a clip of ``features.frames`` frames
    where ``examples=patches``, else 1 (what a results row's ``train_examples`` and the dry run's ``examples``
    count)."""
    if examples(stage_cfg) != PATCHES:
        return 1
    from asc.nets import family_of

    return n_patches(int(features["frames"]), *geometry(spec, family_of(spec)))


def n_patches(frames: int, patch_frames: int, patch_hop: int) -> int:
    """Patches in a clip of ``frames`` frames (0 when the clip is shorter than one patch)."""
    if patch_hop < 1:
        raise ValueError(f"patch_hop={patch_hop} must be >= 1")
    return max((int(frames) - int(patch_frames)) // int(patch_hop) + 1, 0)


def cut(x: Any, patch_frames: int, patch_hop: int) -> Any:
    """The patches of clips ``x`` (N, mel, frames) as one tensor (N · P, mel, patch_frames), clip-major (patch p
    of clip i at i · P + p). Copies; :class:`PatchView` gives the same patches without a copy."""
    n = n_patches(x.shape[-1], patch_frames, patch_hop)
    if n < 1:
        raise ValueError(f"clips of {x.shape[-1]} frames hold no {patch_frames}-frame patch")
    patches = x.unfold(-1, int(patch_frames), int(patch_hop))  # (N, mel, P, patch_frames)
    return patches.permute(0, 2, 1, 3).reshape(x.shape[0] * n, x.shape[1], int(patch_frames))


class PatchView:
    """The patches of clips ``x`` (N, mel, frames) indexed as examples without copying them: ``view[idx]`` with
    a long tensor of example positions gives (len(idx), mel, patch_frames), equal to ``cut(x, …)[idx]``."""

    def __init__(self, x: Any, patch_frames: int, patch_hop: int):
        self.x, self.patch_frames, self.patch_hop = x, int(patch_frames), int(patch_hop)
        self.per_clip = n_patches(x.shape[-1], patch_frames, patch_hop)
        if self.per_clip < 1:
            raise ValueError(f"clips of {x.shape[-1]} frames hold no {patch_frames}-frame patch")

    def __len__(self) -> int:
        return int(self.x.shape[0]) * self.per_clip

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self), int(self.x.shape[1]), self.patch_frames

    def __getitem__(self, idx: Any) -> Any:
        import torch

        idx = torch.as_tensor(idx, dtype=torch.long).reshape(-1)
        clip, start = idx // self.per_clip, (idx % self.per_clip) * self.patch_hop
        frames = start[:, None] + torch.arange(self.patch_frames)  # (B, patch_frames)
        mel = torch.arange(self.x.shape[1])
        return self.x[clip[:, None, None], mel[None, :, None], frames[:, None, :]]


def patch_positions(clip_positions: Any, per_clip: int) -> Any:
    """The example positions of every patch of the clips at ``clip_positions`` (a long tensor), clip by clip."""
    import torch

    clips = torch.as_tensor(clip_positions, dtype=torch.long).reshape(-1)
    return (clips[:, None] * per_clip + torch.arange(per_clip)).reshape(-1)


def patch_labels(y: Any, per_clip: int) -> Any:
    """Each patch's label: its clip's (y: (N,) class numbers or (N, C) tags → (N · P, …))."""
    return y.repeat_interleave(per_clip, dim=0)


def clip_probabilities(patch_probs: Any, per_clip: int) -> Any:
    """Clip scores from patch scores: (N · P, C) patch softmaxes, clip-major → (N, C), the mean over each clip's
    patches (its argmax: the authors' argmax of the summed softmaxes)."""
    return patch_probs.reshape(-1, per_clip, patch_probs.shape[-1]).mean(1)


def training_data(
    x: Any, y: Any, runs: Any, geometry_: tuple[int, int]
) -> tuple[tuple[Any, Any], list[tuple[Any, Any]]]:
    """The patch examples of the clips (x (N, mel, frames), y): ((PatchView, patch labels), and for each run
    (its patch positions, its teacher dict with logits repeated per patch or None)). A run's ``train_idx`` holds
    clip positions; a teacher's logits are per clip, so each patch is distilled towards its clip's logits."""
    view = PatchView(x, *geometry_)
    per_clip = view.per_clip
    swapped = []
    for run in runs:
        teacher = run.teacher
        if teacher is not None:
            teacher = {**teacher, "logits": patch_labels(teacher["logits"], per_clip)}
        swapped.append((patch_positions(run.train_idx, per_clip), teacher))
    return (view, patch_labels(y, per_clip)), swapped
