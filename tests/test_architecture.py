"""The dependency rule of CONVENTIONS.md, checked by walking every module's imports.

gui -> workers -> {ml, midi} -> core; nothing but app.py imports gui; core imports only the
standard library and numpy; ml and midi never import each other; core, midi and ml never
import Qt; core never imports torch or mido.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "composer_app"

# room -> project rooms it may import
ALLOWED_ROOMS = {
    "core": {"core"},
    "midi": {"core", "midi"},
    "ml": {"core", "ml"},
    "workers": {"core", "midi", "ml", "workers", "paths"},
    "gui": {"core", "midi", "ml", "workers", "gui", "paths"},
}
FORBIDDEN_EXTERNAL = {
    "core": {"PySide6", "torch", "mido", "rtmidi", "safetensors"},
    "midi": {"PySide6", "torch", "safetensors"},
    "ml": {"PySide6", "mido", "rtmidi"},
    "workers": {"PySide6.QtWidgets", "PySide6.QtGui"},
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _room(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_architecture_module_respects_dependency_rule(path: Path) -> None:
    room = _room(path)
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "composer_app" and len(parts) > 1:
            target = parts[1]
            if target == "gui":
                assert room in ("gui", "app"), f"{path.name} imports gui; only app.py may"
            if room in ALLOWED_ROOMS:
                assert target in ALLOWED_ROOMS[room] or target == "__init__", (
                    f"{room}/{path.name} imports composer_app.{target}"
                )
        for forbidden in FORBIDDEN_EXTERNAL.get(room, ()):
            assert name != forbidden and not name.startswith(forbidden + "."), (
                f"{room}/{path.name} imports {name}"
            )


def test_architecture_core_imports_only_stdlib_and_numpy() -> None:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for path in (PACKAGE / "core").rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top in stdlib or top in ("numpy", "composer_app"), f"core/{path.name}: {name}"


def test_architecture_walker_sees_violations(tmp_path: Path) -> None:
    # the walker must actually catch a forbidden import, or the tests above prove nothing
    bad = tmp_path / "bad.py"
    bad.write_text("import PySide6.QtCore\nfrom composer_app.gui import main_window\n")
    assert "PySide6.QtCore" in _imports(bad)
    assert "composer_app.gui.main_window" in _imports(bad)
