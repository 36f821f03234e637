"""The layering of docs/architecture.md, checked on the source: one direction of imports, no cycles,
no task or model-name branches outside the model families."""
import ast
from pathlib import Path

import pytest

from edgetokens.models import list_models

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edgetokens", "training", "compression", "runtimes")
# The SDK's user-facing layer; every other edgetokens module is the core (models, maths, formats).
# `edgetokens/__init__.py` loads its public names on first use, so the package itself is core.
TOP = {f"edgetokens.{m}" for m in ("predictor", "pose_predictor", "depth", "stream", "resolve", "cli",
                                   "cli_commands", "demo", "benchmark", "blazepose",
                                   "blazepose_video", "video_pose", "video_stream", "cli_video",
                                   "agreement", "benchmark_video", "instances_predictor", "cli_instances",
                                   "instance_decoding", "benchmark_decoding")}
LAYER_ORDER = ("core", "runtimes", "training", "compression", "top")
# `python -m runtimes.benchmark` is the benchmark's command name; the benchmark itself is on top.
# `training.blazepose_stats` measures the shipped tracker's output on a real video (a function-level
# import: nothing on training's own path loads it).
EXCEPTIONS = {("runtimes.benchmark", "edgetokens.benchmark"),
              ("training.blazepose_stats", "edgetokens.blazepose_video")}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def layer(module: str) -> str:
    if module in TOP:
        return "top"
    top = module.split(".")[0]
    return "core" if top == "edgetokens" else top


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Project modules `name` imports anywhere (function-level imports count as edges too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target not in known and "." in target:
                target = target.rpartition(".")[0]
            if target in known and target != name:
                found.add(target)
    # importing a.b.c runs a/__init__.py and a/b/__init__.py too, unless they are our own packages
    own = ancestors(name)
    return found | {a for t in found for a in ancestors(t) if a in known and a not in own and a != name}


def ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


@pytest.fixture(scope="module")
def graph():
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_imports_point_down_the_layers(graph):
    order = {name: i for i, name in enumerate(LAYER_ORDER)}
    upward = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                    if order[layer(b)] > order[layer(a)] and (a, b) not in EXCEPTIONS)
    assert not upward, "imports against the layering of docs/architecture.md:\n" + "\n".join(upward)
    sideways = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                      if layer(a) == "runtimes" and layer(b) in ("training", "compression"))
    assert not sideways


def test_no_import_cycles(graph):
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_only_the_model_families_know_their_fields_and_names():
    names = set(list_models())
    offenders = []
    for name, path in modules().items():
        if name.startswith("edgetokens.models"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Attribute, ast.Name, ast.Constant)) and "token_num" in {
                    getattr(node, "attr", None), getattr(node, "id", None), getattr(node, "value", None)}:
                offenders.append(f"{name}:{node.lineno} token_num")
            if isinstance(node, ast.Compare):
                constants = [c.value for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)]
                offenders += [f"{name}:{node.lineno} == {c!r}" for c in constants if c in names]
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("startswith", "endswith") and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                    and any(n.startswith(node.args[0].value) for n in names)):
                offenders.append(f"{name}:{node.lineno} startswith({node.args[0].value!r})")
    assert not offenders, "branches on model fields or names outside edgetokens/models:\n" + "\n".join(offenders)


def test_every_registered_model_belongs_to_a_task():
    from edgetokens.models import architecture_task
    from edgetokens.tasks import TASKS

    for name in list_models():
        assert architecture_task(name) in TASKS, name


def test_function_level_imports_say_why_they_are_deferred():
    """Imports inside functions only defer something heavy on purpose, and say so in a comment."""
    silent = []
    for name, path in modules().items():
        lines = path.read_text().splitlines()
        for function in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    line, above = lines[node.lineno - 1], lines[node.lineno - 2].strip()
                    if "#" not in line and not above.startswith("#"):
                        silent.append(f"{path.relative_to(ROOT)}:{node.lineno}: {line.strip()}")
    assert not silent, "function-level imports without a reason:\n" + "\n".join(silent)
