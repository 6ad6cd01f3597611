"""Knowledge distillation in fine-tuning: the teacher a config names, the logits file a user brings, and the loss.

Loss per clip (Hinton, Vinyals & Dean 2015, "Distilling the knowledge in a neural network", arXiv:1503.02531):

    alpha · CE(student, label) + (1 − alpha) · T² · KL(softmax(teacher / T) ‖ softmax(student / T))

T² keeps the soft term's gradients on the scale of the hard term's as T changes (Hinton et al. §2). Defaults
alpha = 0.02, T = 2: the CP-JKU DCASE 2023 Task 1 system's (github.com/fschmid56/cpjku_dcase23,
``run_training.py``: ``--kd_lambda 0.02 --temperature 2.0``, lambda weighting the label loss). That code averages
the KL over clips *and classes* (``KLDivLoss(reduction="none").mean()``), which divides the soft term by the
number of classes; Hinton's KL is per clip (summed over classes). ``kl_mean``: ``per_clip`` (ours, default) or
``per_element`` (CP-JKU's).

``finetune.teacher``: ``none`` (hard labels only; nothing keyed, so existing keys are unchanged), ``baseline``
(the unpruned network the student was pruned from), ``ensemble`` (the mean logits of every ``train.seeds``
baseline) or a CSV file of teacher logits per clip (``filename`` and one column per scene, in
asc.data.tau.SCENES order of names; how DCASE teams share ensemble outputs), keyed by its SHA-256. The teacher's
logits on every training-fold clip are computed once, as an artifact of the stage ``teacher``, never per epoch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from asc.core.errors import ConfigError, InputError

KINDS = ("none", "baseline", "ensemble")  # or a path: a file of logits per clip
KL_MEANS = ("per_clip", "per_element")


def kind(teacher: Any) -> str:
    """``none``, ``baseline``, ``ensemble`` or ``file`` (any other value is a path)."""
    if teacher is None or teacher is False:
        return "none"
    return str(teacher) if str(teacher) in KINDS else "file"


def settings(f: Mapping[str, Any]) -> dict[str, Any]:
    """The keyed distillation settings of a finetune config (alpha, temperature, kl_mean), checked; raises
    ConfigError naming the key."""
    d = f["distill"]
    alpha, temperature = d["alpha"], d["temperature"]
    if not isinstance(alpha, int | float) or isinstance(alpha, bool) or not 0 <= alpha <= 1:
        raise ConfigError(
            f"finetune.distill.alpha={alpha!r} must be a number in [0, 1] (the hard-label weight)"
        )
    if not isinstance(temperature, int | float) or isinstance(temperature, bool) or temperature <= 0:
        raise ConfigError(f"finetune.distill.temperature={temperature!r} must be a positive number")
    if d["kl_mean"] not in KL_MEANS:
        raise ConfigError(
            f"finetune.distill.kl_mean={d['kl_mean']!r} is not valid: expected one of {', '.join(KL_MEANS)}"
        )
    return {"alpha": float(alpha), "temperature": float(temperature), "kl_mean": d["kl_mean"]}


def read_logits_file(
    path: str | Path, classes: Sequence[str], *, key: str = "finetune.teacher"
) -> tuple[list[str], Any]:
    """(clip names, logits (N, classes) float32) of a teacher logits CSV: a ``filename`` column and one column
    per class name. Raises InputError naming the setting ``key`` (``runs[i].teacher`` for a block's own), the
    file and what is wrong (missing, no filename column, missing or extra class columns, a repeated clip, a
    non-finite value)."""
    import numpy as np
    import pandas as pd

    path = Path(path)
    where = f"{key}={path}"
    if not path.is_file():
        raise InputError(
            f"{where}: no such file; give a CSV of teacher logits (filename + one column per scene)"
        )
    try:
        table = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"{where} cannot be read as CSV ({str(err).splitlines()[0]})") from None
    cols = [c for c in table.columns if c != "filename"]
    if "filename" not in table.columns or sorted(cols) != sorted(classes):
        raise InputError(
            f"{where} has columns {list(table.columns)[:12]}; expected filename and one logit column per class "
            f"({len(classes)}: {', '.join(classes)})"
        )
    names = table["filename"].astype(str).tolist()
    if table["filename"].duplicated().any():
        raise InputError(
            f"{where} lists clip {table['filename'][table['filename'].duplicated()].iloc[0]} twice"
        )
    logits = table[list(classes)].to_numpy(dtype=np.float32)
    if not np.isfinite(logits).all():
        raise InputError(f"{where} holds non-finite logits (NaN or inf)")
    return names, logits


def check_coverage(
    names: Sequence[str], clips: Sequence[str], where: str, *, key: str = "finetune.teacher"
) -> None:
    """Every training clip has a row in the teacher file ``where``; raises InputError naming the setting ``key``,
    how many are missing and one example."""
    missing = sorted(set(clips) - set(names))
    if missing:
        raise InputError(
            f"{key}={where} has no logits for {len(missing)} of the {len(clips)} training clips "
            f"(e.g. {missing[0]}); it must cover every clip of fold1_train"
        )


# ---------------------------------------------------------------------- training (torch from here on)


def teacher_tensors(runs: Sequence[Any], device: Any) -> dict[str, Any] | None:
    """Per-run teacher logits stacked for :func:`gather`: ``logits`` (M, N, C) on ``device``, ``alpha``,
    ``temperature`` (M,), ``per_element`` (M,) bool; a run without a teacher gets alpha 1 (its loss is the hard
    one). None when no run distils (the training step is then exactly the hard-label one)."""
    import torch

    taught = [r.teacher for r in runs if getattr(r, "teacher", None) is not None]
    if not taught:
        return None
    n, c = taught[0]["logits"].shape
    zero = torch.zeros(n, c)
    plain = {"logits": zero, "alpha": 1.0, "temperature": 1.0, "kl_mean": "per_clip"}
    ts = [r.teacher if getattr(r, "teacher", None) is not None else plain for r in runs]
    return {
        "logits": torch.stack([torch.as_tensor(t["logits"], dtype=torch.float32) for t in ts]).to(device),
        "alpha": torch.tensor([float(t["alpha"]) for t in ts], dtype=torch.float32, device=device),
        "temperature": torch.tensor(
            [float(t["temperature"]) for t in ts], dtype=torch.float32, device=device
        ),
        "per_element": torch.tensor([t["kl_mean"] == "per_element" for t in ts], device=device),
    }


def gather(teachers: Mapping[str, Any], sel: Any, idx: Any) -> dict[str, Any]:
    """The teacher values of the models ``sel`` (a long tensor (G,)) for the batch positions ``idx`` (B, G):
    ``logits`` (B, G, C) and the per-model ``alpha``, ``temperature``, ``per_element`` (G,)."""
    out = {k: v[sel] for k, v in teachers.items() if k != "logits"}
    out["logits"] = teachers["logits"][sel[None, :], idx]
    return out


def kd_losses(logits: Any, hard: Any, soft: Mapping[str, Any]) -> Any:
    """The G distillation losses of one fused step: ``logits`` (B, G, C) of the students, ``hard`` (G,) their
    mean cross-entropy on the labels, ``soft`` from :func:`gather`. Returns alpha·hard + (1 − alpha)·T²·KL, the KL
    averaged over the B clips (``per_clip``) or over clips and classes (``per_element``)."""
    import torch.nn.functional as F

    t = soft["temperature"][None, :, None]
    student = F.log_softmax(logits / t, dim=2)
    target = F.log_softmax(soft["logits"] / t, dim=2)
    kl = (target.exp() * (target - student)).sum(2).mean(0)  # (G,) per clip
    kl = kl / (1 + soft["per_element"].to(kl.dtype) * (logits.shape[2] - 1))
    alpha, tt = soft["alpha"], soft["temperature"]
    return alpha * hard + (1 - alpha) * tt * tt * kl
