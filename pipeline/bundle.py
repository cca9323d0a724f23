"""What a registered version ships: the pipeline modules its pyfunc runs, and their digest.

A version serves through `pipeline.serving` with its model's module, `pipeline.models.<model>`.
The modules they import, directly or through each other (every import statement, those inside
functions too, and each package's `__init__.py` on the way), are the whole of its code: they are
copied into the version, and their digest tells whether new code changes what it serves. An edit
to another model's code or another task leaves the version as it is.
"""
from __future__ import annotations

import ast
import hashlib
import shutil
from pathlib import Path

PACKAGE = "pipeline"
ENTRY = "pipeline.serving"


def source(root: Path, module: str) -> Path | None:
    """The file of `module` under `root` (the directory holding the package), or None if not ours."""
    path = root.joinpath(*module.split("."))
    if path.is_dir() and (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every module a source names in an import, absolute, with each `from X import name` also as
    X.name (which is a module when name is one)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def closure(root: Path, entries: tuple[str, ...]) -> list[Path]:
    """The source files of `entries` and of every package module they import, transitively, with the
    `__init__.py` of each package on the way; sorted."""
    seen: set[str] = set()
    todo = list(entries)
    files: set[Path] = set()
    while todo:
        module = todo.pop()
        if module in seen or not (module == PACKAGE or module.startswith(PACKAGE + ".")):
            continue
        seen.add(module)
        path = source(root, module)
        if path is None:
            continue
        files.add(path)
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # the packages above it
        tree = ast.parse(path.read_text(), str(path))
        todo.extend(imports(tree, module, path.name == "__init__.py"))
    return sorted(files)


def model_code(root: Path, model: str) -> list[Path]:
    """The files a version of `model` runs when served."""
    return closure(root, (ENTRY, f"{PACKAGE}.models.{model}"))


def digest(root: Path, files: list[Path]) -> str:
    """A digest of files' paths (relative to `root`) and contents."""
    h = hashlib.sha1()
    for path in sorted(files):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def copy_package(root: Path, files: list[Path], dest: Path) -> Path:
    """`files` copied under `dest` in their package layout; returns dest/pipeline, the path to ship."""
    for path in files:
        target = dest / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return dest / PACKAGE
