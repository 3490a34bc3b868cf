"""The only module that knows where the shipped resources and models live."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
RESOURCES_DIR = PROJECT_DIR / "resources"
MODELS_DIR = PROJECT_DIR / "models"
DEFAULT_MODEL_NAME = "nottingham_ll"


def resource_path(*parts: str) -> Path:
    """A file under ``resources/``."""
    return RESOURCES_DIR.joinpath(*parts)


def model_dir(name: str = DEFAULT_MODEL_NAME) -> Path:
    """The folder of a shipped model under ``models/``."""
    return MODELS_DIR / name


def shipped_model_names() -> list[str]:
    """Names of the shipped models (folders of ``models/`` holding a ``config.json``)."""
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p.name for p in MODELS_DIR.iterdir() if (p / "config.json").is_file())


def shared_data_dir() -> Path:
    """The benchmark data beside the project (``../shared/data``); it may be absent."""
    return PROJECT_DIR.parent / "shared" / "data"


def seed_melodies() -> list[Path]:
    """The example seed melodies shipped in ``resources/seeds`` (sorted by name)."""
    folder = RESOURCES_DIR / "seeds"
    return sorted(folder.glob("*.mid")) if folder.is_dir() else []
