"""The package layout: which modules may import which, and how long a module may grow.

Read from the source (``ast``), so that an import added anywhere, even inside a function or
under ``TYPE_CHECKING``, is held to the rules.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "qabot"
MAX_LINES = 450
# The CLI and the chat are shells over the one door: they see the library only through these.
SHELL_MAY_IMPORT = ("qabot.api", "qabot.present", "qabot.records", "qabot.errors", "qabot.tui")
# ... and the CLI's own commands for measuring and training, imported when they run.
CLI_MAY_IMPORT_WHEN_RUN = ("qabot.measure", "qabot.train")
CORE = (
    "qabot.ingest",
    "qabot.index",
    "qabot.search",
    "qabot.answer",
    "qabot.milvus",
    "qabot.present",
    "qabot.records",
    "qabot.errors",
    "qabot.api",
)


@dataclass(frozen=True)
class Import:
    module: str  # the qabot module imported, e.g. "qabot.index.build"
    line: int
    in_function: bool  # imported when the function runs, not when the module loads


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def within(module: str, packages: tuple[str, ...] | str) -> bool:
    packages = (packages,) if isinstance(packages, str) else packages
    return any(module == p or module.startswith(p + ".") for p in packages)


def imports_of(name: str) -> list[Import]:
    """Every qabot module that module ``name`` imports, wherever the import statement is."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(a.name, node.lineno, in_function) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for a in node.names:
                # "from qabot.present import citations" imports the module qabot.present.citations
                full = f"{base}.{a.name}"
                found.append(Import(full if full in MODULES else base, node.lineno, in_function))
        inside = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return [i for i in found if within(i.module, "qabot")]


def broken(rule: str, name: str, found: Import) -> str:
    return (
        f"{MODULES[name].relative_to(PACKAGE.parent)}:{found.line} imports {found.module}: {rule}"
    )


def test_the_module_list_is_read() -> None:
    assert {"qabot.api", "qabot.cli", "qabot.tui.app", "qabot.records"} <= set(MODULES)


def test_the_cli_and_the_chat_go_through_the_one_door() -> None:
    shells = [n for n in MODULES if n == "qabot.cli" or within(n, "qabot.tui")]
    assert "qabot.tui.app" in shells
    problems = [
        broken("a shell sees the library only through qabot.api", name, found)
        for name in shells
        for found in imports_of(name)
        if not within(found.module, SHELL_MAY_IMPORT)
        and not (
            name == "qabot.cli"
            and found.in_function
            and within(found.module, CLI_MAY_IMPORT_WHEN_RUN)
        )
    ]
    assert problems == []


# Training scores its held-out slice with the metrics the evaluation reports.
ALSO_REACHED_FROM = {"qabot.measure": ("qabot.train",), "qabot.train": ()}


@pytest.mark.parametrize("package", ["qabot.measure", "qabot.train"])
def test_measuring_and_training_are_reached_only_from_the_cli(package: str) -> None:
    allowed = ("qabot.cli", package, *ALSO_REACHED_FROM[package])
    problems = [
        broken(f"only {' and '.join(allowed)} import it", name, found)
        for name in MODULES
        if not within(name, allowed)
        for found in imports_of(name)
        if within(found.module, package)
    ]
    assert problems == []


def test_the_core_never_imports_the_shells() -> None:
    core = [n for n in MODULES if n == "qabot" or within(n, CORE)]
    assert "qabot.api" in core and "qabot.index.build" in core
    problems = [
        broken("the library does not know its shells", name, found)
        for name in core
        for found in imports_of(name)
        if within(found.module, ("qabot.tui", "qabot.cli"))
    ]
    assert problems == []


def test_no_module_grows_past_the_limit() -> None:
    lengths = {
        str(path.relative_to(PACKAGE.parent)): len(path.read_text(encoding="utf-8").splitlines())
        for path in MODULES.values()
    }
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}
