"""The package's shape: each module's opening docstring names its idea, imports run downwards
through the layers (maths below models, models below training, training below the notebooks'
helpers) and no two modules import each other, even through others."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vae_course"
# Bottom to top; a module may import modules of its own layer or of layers below it.
LAYERS = [
    {"validate", "files", "lab", "exercise_files", "exercises", "threads"},      # no torch models
    {"config", "report"},                                                        # run-time settings
    {"objectives", "gradients", "pca", "linear_gaussian", "density", "corruption",
     "metrics", "estimators"},                                                   # the maths
    {"data", "sprites"},                                                         # data sets
    {"models", "vq"},                                                            # models
    {"losses", "diagnostics", "factorvae"},                                      # what they are trained and measured by
    {"train", "model_cache"},                                                    # training, its cache
    # the notebooks' helpers: learned priors with their training (code_prior, flow), scores,
    # the sprites recipe and its cache, figures
    {"code_prior", "flow", "quality", "recipe", "lineup", "chapter_models", "disentangle", "traversals", "rotated_twin",
     "comparison", "plots"},
    {"export", "cli", "__main__", "pytest_plugin"},                              # the commands
]
LAYER = {name: level for level, names in enumerate(LAYERS) for name in names}
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def imports(name: str) -> set[str]:
    """The package's modules that ``name`` imports at run time (blocks under
    ``if TYPE_CHECKING:`` are annotations only)."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vae_course"):
            parts = node.module.split(".")
            found |= {a.name for a in node.names} if len(parts) == 1 else {parts[1]}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("vae_course.")}
    return (found & set(MODULES)) - {name}


def test_every_module_has_a_layer():
    assert set(MODULES) <= set(LAYER), f"modules without a layer: {sorted(set(MODULES) - set(LAYER))}"


@pytest.mark.parametrize("name", MODULES)
def test_imports_run_downwards(name):
    above = sorted(m for m in imports(name) if LAYER[m] > LAYER[name])
    assert not above, f"{name} (layer {LAYER[name]}) imports {above}, which sit above it"


def test_no_import_cycle():
    graph = {name: imports(name) for name in MODULES}
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for dep in graph[name]:
            assert state.get(dep) != "open", "import cycle: " + " -> ".join([*path, name, dep])
            if dep not in state:
                visit(dep, [*path, name])
        state[name] = "done"

    for name in MODULES:
        if name not in state:
            visit(name, [])


@pytest.mark.parametrize("name", MODULES)
def test_each_module_opens_with_a_docstring(name):
    doc = ast.get_docstring(ast.parse((PACKAGE / f"{name}.py").read_text()))
    assert doc and len(doc.split("\n", 1)[0]) > 10, f"{name}.py has no opening docstring naming its idea"
