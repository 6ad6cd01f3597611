"""A multirun's command line made sweep-safe before Hydra reads it (:func:`per_job_overrides`; the ``asc``
command, asc/app/cli.py, calls it first)."""

from __future__ import annotations

from asc.core.config_files import CONF_DIR


def per_job_overrides(argv: list[str]) -> list[str]:
    """Make ``prune.ratio=0.3`` beside a swept ``prune=cosine,l1`` apply to each job (argv without the program).

    Hydra composes a multirun's sweep-level config without the swept group choices and then applies every other
    override to it (expected upstream, facebookresearch/hydra#2888), so a key of the swept group has no node to
    land on: "Key 'prune' is not in struct". A one-value sweep ``prune.ratio=choice(0.3)`` gives the same jobs and
    is applied in each job only, after its group choice; every non-sweep override of a key inside a swept config
    group (``+``/``++`` kept, deletions left alone) is rewritten so. Single runs are returned unchanged.
    """
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        args = get_args_parser().parse_args(argv)
        overrides = OverridesParser.create().parse_overrides(args.overrides)
    except (SystemExit, Exception):  # let Hydra itself report a malformed command line
        return list(argv)
    multirun = args.multirun or any(
        o.key_or_group == "hydra.mode" and o.value() == "MULTIRUN" for o in overrides
    )
    swept = {
        o.key_or_group
        for o in overrides
        if o.is_sweep_override() and not o.is_hydra_override() and (CONF_DIR / o.key_or_group).is_dir()
    }
    if not multirun or not swept:
        return list(argv)
    rewrite = {}
    for o in overrides:
        inside = any(o.key_or_group.startswith(f"{group}.") for group in swept)
        if inside and not o.is_sweep_override() and not o.is_delete() and o.input_line:
            key = o.get_key_element()
            value = o.input_line[len(key) + 1 :]
            if o.key_or_group.startswith("prune."):
                # ++: set in every job, added where the job's criterion lacks the key, so that asc.pipeline.validate
                # refuses that job in one line (an option the criterion does not have) instead of Hydra's error
                key = "++" + key.lstrip("+")
            rewrite[o.input_line] = f"{key}=choice({value})"
    return [rewrite.get(a, a) for a in argv]
