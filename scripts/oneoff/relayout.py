"""One-off: move asc's flat modules into sub-packages, one per floor of the architecture (issue 25 §4).

    python scripts/oneoff/relayout.py <repo root>            # apply (git mv + rewrite every reference)
    python scripts/oneoff/relayout.py <repo root> --check    # change nothing: unplaced modules, circles, upward imports
    python scripts/oneoff/relayout.py <repo root> --also ../shared/DESIGN.md   # rewrite extra text files too

Floors, lowest first (a module imports only from its own floor or lower ones; tests/test_layers.py checks it):
core < data < frontend < nets < training < prune < deploy < report < pipeline < app.

Exit status: 0 applied (or --check clean), 2 a module of asc/ is not placed in PKG (nothing changed), 3 refused
(already applied, a target exists, or the tree is dirty), 4 --check found circles or upward imports.
After applying: `ruff check --fix asc tests scripts && ruff format asc tests scripts` (import order), then the tests.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

FLOORS = ("core", "data", "frontend", "nets", "training", "prune", "deploy", "report", "pipeline", "app")

# What each new sub-package holds (its __init__.py docstring).
PACKAGE_DOCS = {
    "core": "Facilities every floor may use: errors, config values and files, atomic writes, locks, disk, progress, "
    "provenance. Imports nothing else of asc.",
    "frontend": "From a clip to the network's input: decoding, the mel front ends and their torch-free options.",
    "training": "Training and evaluating networks: the fused trainer, one-at-a-time training, recipes, speed options, "
    "distillation, losses and metrics.",
    "deploy": "A trained network as it is shipped: ONNX export, quantised accuracy, latency and the asc-time command.",
    "report": "The results table (one row per evaluated model) and every view of it: tables, figures, comparisons, "
    "cost views, experiment tracking.",
    "pipeline": "The chain of stages (stages/), the plan, the artifact store, execution and the dry run.",
    "app": "The commands: the Hydra entry point, the Python API, the environment a run starts in, multirun sweeps.",
}

# old module (dotted, below asc.) -> new module (dotted, below asc.). A package maps as a whole (stages, figures).
PKG = {
    # core: no asc imports above it
    "errors": "core.errors",
    "values": "core.values",
    "atomic": "core.atomic",
    "process": "core.process",
    "locks": "core.locks",
    "disk": "core.disk",
    "checks": "core.checks",
    "progress": "core.progress",
    "provenance": "core.provenance",
    "config_files": "core.config_files",
    "outputs": "core.outputs",
    # data: what a dataset is and holds
    "fingerprint": "data.fingerprint",
    "fractions": "data.fractions",
    "split_files": "data.split_files",
    "tasks": "data.tasks",
    "feature_arrays": "data.feature_arrays",
    # frontend
    "audio": "frontend.audio",
    "features": "frontend.features",
    "frontend_options": "frontend.frontend_options",
    "mel": "frontend.mel",
    "mel_scale": "frontend.mel_scale",
    "splits": "frontend.splits",
    # nets: networks, their specs, files, structure and counted cost
    "model": "nets.model",
    "model_spec": "nets.model_spec",
    "model_file": "nets.model_file",
    "keras_io": "nets.keras_io",
    "complexity": "nets.complexity",
    "cost": "report.cost",
    "rules": "report.rules",
    "prune.history": "nets.history",  # nets.checkpoint replays a history: the replay sits on the nets floor
    "prune.groups": "nets.groups",  # coupled-layer groups of any network; history.replay needs them
    # training
    "train": "training.train",
    "train_plain": "training.train_plain",
    "train_select": "training.train_select",
    "train_state": "training.train_state",
    "fused": "training.fused",
    "fused_conv": "training.fused_conv",
    "fused_ops": "training.fused_ops",
    "formulations": "training.formulations",
    "graphs": "training.graphs",
    "speed": "training.speed",
    "device": "training.device",
    "recipes": "training.recipes",
    "sampling": "training.sampling",
    "losses": "training.losses",
    "distill": "training.distill",
    "bn_stats": "training.bn_stats",
    "evaluate": "training.evaluate",
    "tagging_metrics": "training.tagging_metrics",
    "per_device": "training.per_device",
    "patch_examples": "training.patch_examples",  # branch vggpatch
    "qat": "training.qat",  # branch beyond (uncommitted there at the time of writing)
    # deploy
    "export": "deploy.export",
    "quantised": "deploy.quantised",
    "latency": "deploy.latency",
    "latency_options": "deploy.latency_options",
    "architectures": "deploy.architectures",
    "timing": "deploy.timing",
    # report: the results table and its views
    "report": "report.write",
    "results": "report.results",
    "results_check": "report.results_check",
    "rows": "report.rows",
    "compare": "report.compare",
    "tables": "report.tables",
    "tables_devices": "report.tables_devices",
    "tables_sensitivity": "report.tables_sensitivity",  # branch sensitivity
    "table_writers": "report.table_writers",
    "cost_views": "report.cost_views",
    "tracking": "report.tracking",
    "figures": "report.figures",  # package
    # pipeline: the chain, its stages, the plan, the store, execution
    "chain": "pipeline.chain",
    "stages": "pipeline.stages",  # package
    "plan": "pipeline.plan",
    "step": "pipeline.step",
    "store": "pipeline.store",
    "manifest": "pipeline.manifest",
    "context": "pipeline.context",
    "execute": "pipeline.execute",
    "publish": "pipeline.publish",
    "validate": "pipeline.validate",
    "config_effects": "pipeline.config_effects",
    "dryrun": "pipeline.dryrun",
    "eta": "pipeline.eta",
    "job_progress": "pipeline.job_progress",
    "cross_validation": "pipeline.cross_validation",  # branch datasets
    # app
    "cli": "app.cli",
    "api": "app.api",
    "invocation": "app.invocation",
    "sweep": "app.sweep",
}

# Packages of asc/ that stay where they are (their modules sit on that floor).
KEPT = {"data", "nets", "prune"}
TOP = {"__init__", "__main__"}  # asc/__init__.py and asc/__main__.py stay: the app floor

# Text that names a path relative to its module's file: (new module, old text, new text).
FIXUPS = [
    (
        "core.provenance",
        "SOURCE = Path(__file__).resolve().parent  #",
        "SOURCE = Path(__file__).resolve().parents[1]  #",
    ),
]

TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".sh", ".cfg", ".txt", ".ini", ".rst"}
TEXT_FILES = {".ci/run"}
SKIP = ("scripts/oneoff/",)  # this script and its files keep the old names


def floor_of(new: str) -> str:
    return new.split(".")[0]


# ---------------------------------------------------------------------------------------------------------- where


def old_modules(root: Path) -> tuple[list[str], list[str]]:
    """(flat modules and packages of asc/ not placed, PKG entries whose module no longer exists)."""
    asc = root / "asc"
    found = {p.stem for p in asc.glob("*.py")} - TOP
    found |= {p.name for p in asc.iterdir() if (p / "__init__.py").is_file()} - KEPT
    unplaced = sorted(found - set(PKG))
    missing = sorted(o for o in PKG if not _old_path(root, o).exists())
    return unplaced, missing


def _old_path(root: Path, old: str) -> Path:
    base = root / "asc" / Path(*old.split("."))
    return base if base.is_dir() else base.with_suffix(".py")


def _new_path(root: Path, old: str) -> Path:
    base = root / "asc" / Path(*PKG[old].split("."))
    return base if _old_path(root, old).is_dir() else base.with_suffix(".py")


# ---------------------------------------------------------------------------------------------------------- text


def _pattern(olds: list[str]) -> re.Pattern:
    alts = "|".join(o.replace(".", "[./]") for o in sorted(olds, key=len, reverse=True))
    return re.compile(rf"(?<![\w.\-/])asc([./])({alts})(?![\w])")


def rewrite_names(text: str, pattern: re.Pattern) -> str:
    """``asc.x`` / ``asc/x`` (dotted names, strings, paths in prose) -> the new module, separator kept."""

    def new(m: re.Match) -> str:
        sep, old = m.group(1), re.sub(r"[./]", ".", m.group(2))
        return "asc" + sep + PKG[old].replace(".", sep)

    return pattern.sub(new, text)


def _new_name(old_full: str) -> str | None:
    """asc.<old> (a module or something inside a moved package) -> asc.<new>, or None when it does not move."""
    rest = old_full.removeprefix("asc.")
    for old in sorted(PKG, key=len, reverse=True):
        if rest == old or rest.startswith(old + "."):
            return "asc." + PKG[old] + rest[len(old) :]
    return None


def _import_lines(indent: str, groups: dict[str, list[str]]) -> str:
    return "\n".join(f"{indent}from {mod} import {', '.join(names)}" for mod, names in groups.items())


def rewrite_imports(text: str, module: str, is_package: bool) -> str:
    """``from asc import x`` / ``from asc.prune import history`` / relative imports whose target moved, in a file
    whose (old) dotted name is ``module``, rewritten as absolute imports of the new modules."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    edits = []
    package = module if is_package else module.rpartition(".")[0]
    new_module = _new_name(module) or module
    new_package = new_module if is_package else new_module.rpartition(".")[0]
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
            # The same relative text, read from the file's new place: kept when it still names the same module.
            nparts = new_package.split(".")
            same = ".".join(nparts[: len(nparts) - (node.level - 1)] + ([node.module] if node.module else []))
        elif node.module and node.module.startswith("asc") and node.module != "asc.__future__":
            base, same = node.module, node.module
        else:
            continue
        groups: dict[str, list[str]] = {}
        changed = False
        for alias in node.names:
            moved = (
                _new_name(f"{base}.{alias.name}")
                if f"{base}.{alias.name}".removeprefix("asc.") in PKG
                else None
            )
            if moved is not None:  # the imported name is a moved module
                parent, _, leaf = moved.rpartition(".")
                local = alias.asname or alias.name
                groups.setdefault(parent, []).append(leaf if leaf == local else f"{leaf} as {local}")
                changed = True
                continue
            target = _new_name(base) if node.level else None
            if node.level and (target or base) != same:
                changed = True
            name = alias.name if alias.asname is None else f"{alias.name} as {alias.asname}"
            key = (target or base) if node.level else node.module
            groups.setdefault(key, []).append(name)
        if not changed:
            continue
        line = lines[node.lineno - 1]
        indent = line[: len(line) - len(line.lstrip())]
        if line[: node.col_offset].strip():
            raise SystemExit(
                f"relayout: {module}:{node.lineno}: an import after other code on its line; split it"
            )
        tail = lines[node.end_lineno - 1][node.end_col_offset :]
        edits.append((node.lineno, node.end_lineno, _import_lines(indent, groups) + tail))
    for start, end, new in sorted(edits, reverse=True):
        lines[start - 1 : end] = [new if new.endswith("\n") else new + "\n"]
    return "".join(lines)


# ---------------------------------------------------------------------------------------------------------- graph


def import_graph(root: Path, name_of) -> dict[str, set[str]]:
    """module -> the asc modules it imports (every import: top level, in functions, under TYPE_CHECKING).
    ``name_of(path)`` gives a file's dotted module name."""
    files = {
        name_of(p): p for p in (root / "asc").rglob("*.py") if "conf" not in p.relative_to(root / "asc").parts
    }
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        out = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")
                    base = ".".join(
                        parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else [])
                    )
                else:
                    base = node.module or ""
                for a in node.names:
                    out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in files else base)
        edges = set()
        for m in out:
            while m not in files and "." in m:
                m = m.rpartition(".")[0]
            if m in files and m != name and m != "asc":
                edges.add(m)
        graph[name] = edges
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            node, it = work[-1]
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        m = stack.pop()
                        on.discard(m)
                        comp.append(m)
                        if m == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def floor_index(new_name: str) -> int:
    parts = new_name.split(".")
    return len(FLOORS) - 1 if len(parts) < 2 or parts[1] in TOP else FLOORS.index(parts[1])


def check(root: Path) -> int:
    """The import graph as it will be after the move: circles and imports from a lower floor up."""

    def name_of(p: Path) -> str:
        return ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")

    graph = import_graph(root, name_of)
    new = {m: _new_name(m) or m for m in graph}
    bad = 0
    for comp in circles(graph):
        print("circle:", " <-> ".join(new[m] for m in comp))
        bad += 1
    for m, deps in sorted(graph.items()):
        for d in sorted(deps):
            if floor_index(new[d]) > floor_index(new[m]):
                print(f"upward: {new[m]} -> {new[d]}")
                bad += 1
    return bad


# ---------------------------------------------------------------------------------------------------------- apply


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"relayout: git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def text_files(root: Path, also: list[Path]) -> list[Path]:
    tracked = git(root, "ls-files", "-z").split("\0")
    out = [
        root / f
        for f in tracked
        if f
        and not f.startswith(SKIP)
        and (Path(f).suffix in TEXT_SUFFIXES or f in TEXT_FILES)
        and not (root / f).is_symlink()
        and (root / f).is_file()
    ]
    return out + list(also)


def apply(root: Path, also: list[Path]) -> None:
    # Old dotted name of every file now in asc/, to resolve relative imports once the files have moved.
    old_names = {}
    for p in (root / "asc").rglob("*.py"):
        if "conf" in p.relative_to(root / "asc").parts:
            continue
        old_names[p] = ".".join(p.relative_to(root).with_suffix("").parts)

    # Every move decided before anything changes (asc/report/ is made for asc/report.py's new home).
    moves = [(_old_path(root, o), _new_path(root, o)) for o in sorted(PKG, key=lambda o: (o.count("."), o))]
    moves = [(src, dst) for src, dst in moves if src.exists()]
    for src, dst in moves:
        dst.parent.mkdir(parents=True, exist_ok=True)
        git(root, "mv", str(src.relative_to(root)), str(dst.relative_to(root)))
    for floor in FLOORS:
        init = root / "asc" / floor / "__init__.py"
        if not init.exists():
            init.write_text(f'"""{PACKAGE_DOCS[floor]}"""\n')
            git(root, "add", str(init.relative_to(root)))

    def now(path: Path) -> Path:
        for src, dst in moves:
            if path == src:
                return dst
            if src.is_dir() or src.suffix != ".py":
                try:
                    return dst / path.relative_to(src)
                except ValueError:
                    pass
        return path

    old_of = {now(p): n for p, n in old_names.items()}
    pattern = _pattern(list(PKG))
    for path in text_files(root, also):
        text = path.read_text()
        new = rewrite_names(text, pattern)
        if path.suffix == ".py":
            old = old_of.get(path)
            if old is not None:
                is_pkg = path.name == "__init__.py"
                new = rewrite_imports(new, old.removesuffix(".__init__"), is_pkg)
            else:  # tests/, scripts/: absolute imports only
                new = rewrite_imports(new, "tests.x", False)
        if new != text:
            path.write_text(new)
    for module, old_text, new_text in FIXUPS:
        path = root / "asc" / (module.replace(".", "/") + ".py")
        text = path.read_text()
        if old_text not in text:
            raise SystemExit(f"relayout: {path}: expected {old_text!r}; fix it by hand")
        path.write_text(text.replace(old_text, new_text))
    here = Path(__file__).resolve().parent
    shutil.copy(here / "test_layers.py", root / "tests" / "test_layers.py")
    replace_readme_sections(root / "README.md", here / "adding_readme.md")
    git(root, "add", "-A", "asc", "tests")
    git(root, "add", "-u")  # README, conf/, docs/, pyproject.toml, scripts/ rewritten


# README sections replaced by scripts/oneoff/adding_readme.md's blocks: (block, heading, how far the old one goes).
# "section": to the next heading of the same or a higher level; "list": to the end of its numbered list (the
# criterion section goes on with paragraphs on ties that stay).
README_BLOCKS = (
    ("Adding a stage", "### Adding a stage", "section"),
    ("Adding a network family", "### Adding a network family", "section"),
    ("Adding a criterion", "### Adding a criterion", "list"),
    ("Layout", "## Layout", "section"),
)


def replace_readme_sections(readme: Path, blocks_file: Path) -> None:
    """Each README section of README_BLOCKS replaced by its block of ``blocks_file``; the old text is printed so
    that whoever applies this sees what another branch may have added there (``git diff README.md``)."""
    blocks = blocks_file.read_text()
    lines = readme.read_text().splitlines(keepends=True)
    for name, heading, extent in README_BLOCKS:
        found = re.search(rf"<!-- BEGIN {name} -->\n(.*?)<!-- END {name} -->", blocks, re.S)
        starts = [i for i, line in enumerate(lines) if line.rstrip() == heading]
        if not found or len(starts) != 1:
            print(f"relayout: README: {heading!r} not found once; its section is left as it is")
            continue
        start, level = starts[0], heading.split()[0]
        end = start + 1
        while end < len(lines):
            line = lines[end]
            hashes = line.split(" ", 1)[0]
            if set(hashes) == {"#"} and len(hashes) <= len(level):
                break
            if extent == "list" and not line.strip() and end + 1 < len(lines):
                nxt = lines[end + 1]
                if nxt.strip() and not nxt.startswith(" ") and not re.match(r"\d+\. ", nxt):
                    break
            end += 1
        old = "".join(lines[start:end])
        new = found.group(1)
        if not new.endswith("\n\n") and end < len(lines) and extent == "section":
            new += "\n"
        lines[start:end] = [new]
        print(f"relayout: README: replaced {heading!r} ({old.count(chr(10))} lines)")
    readme.write_text("".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--check", action="store_true", help="change nothing; print circles and upward imports")
    ap.add_argument("--also", type=Path, nargs="*", default=[], help="other text files to rewrite")
    ap.add_argument("--allow-dirty", action="store_true")
    args = ap.parse_args()
    root = args.root.resolve()
    if (root / "asc" / "pipeline" / "chain.py").exists() or not (root / "asc" / "chain.py").exists():
        print(
            "relayout: already applied (asc/pipeline/chain.py exists or asc/chain.py does not); nothing done"
        )
        return 3
    unplaced, missing = old_modules(root)
    if unplaced:
        print("relayout: not placed in PKG (add each to scripts/oneoff/relayout.py's PKG); nothing changed:")
        print("\n".join(f"  asc/{m}/" if (root / "asc" / m).is_dir() else f"  asc/{m}.py" for m in unplaced))
        return 2
    for m in missing:
        print(f"relayout: note: PKG names asc.{m}, which this tree does not have; skipped")
    if args.check:
        bad = check(root)
        print(f"relayout: {bad} problem(s)" if bad else "relayout: no circle, no upward import")
        return 4 if bad else 0
    taken = [o for o in PKG if _old_path(root, o).exists() and _new_path(root, o).exists()]
    if taken:
        print("relayout: targets exist already; nothing changed:", ", ".join(taken))
        return 3
    untracked = [
        o
        for o in PKG
        if _old_path(root, o).is_file()
        and not git(root, "ls-files", str(_old_path(root, o).relative_to(root)))
    ]
    if untracked:
        print("relayout: not tracked by git (commit them first); nothing changed:", ", ".join(untracked))
        return 3
    for module, old_text, _ in FIXUPS:
        old = next(o for o in PKG if PKG[o] == module)
        if old_text not in _old_path(root, old).read_text():
            print(
                f"relayout: {_old_path(root, old)} no longer has {old_text!r}: update FIXUPS; nothing changed"
            )
            return 3
    if git(root, "status", "--porcelain", "--untracked-files=no").strip() and not args.allow_dirty:
        print("relayout: the work tree has uncommitted changes; commit them first (or --allow-dirty)")
        return 3
    apply(root, [p.resolve() for p in args.also])
    print("relayout: moved; now run: ruff check --fix asc tests scripts && ruff format asc tests scripts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
