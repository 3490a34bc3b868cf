"""Model checkpoints: ``config.json`` + ``weights.safetensors``, written atomically, read strictly.

No pickle is ever involved: weights are safetensors, everything else is JSON. Every failure
to load raises :class:`CheckpointError` with a message that names the file and the problem.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import threading
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from composer_app.ml.rnnrbm import ConfigError, RnnRbm, RnnRbmConfig

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.safetensors"


class CheckpointError(Exception):
    """A checkpoint cannot be written or read; the message names the file and the problem."""


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temp file in the same folder, fsync, os.replace."""
    atomic_write_files({Path(path): data})


def atomic_write_files(files: Mapping[Path, bytes]) -> None:
    """Write each file of ``files`` (path -> content) whole, and all of them or none.

    Every content goes to a temp file in its folder and is synced first, so a full disk or
    any other write error replaces nothing (the temp files are removed). Then the temp files
    are renamed over the targets one after the other with Ctrl+C held back, so an interrupt
    cannot fall between two renames; it is raised once they are done. Temp names are short
    (``.tmp-<random>``), so a target whose name is near the file system's limit still works.
    """
    written: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            written.append((tmp_name, path))
            # mkstemp makes 0600; use the usual mode
            os.chmod(tmp_name, 0o666 & ~_current_umask())
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        with _interrupts_deferred():
            for tmp_name, path in written:
                os.replace(tmp_name, path)
    except BaseException:
        for tmp_name, _path in written:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
        raise
    for folder in {path.parent for _tmp, path in written}:
        _fsync_folder(folder)  # make the renames themselves durable


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold back SIGINT (Ctrl+C) for the block and deliver it after. Only the main thread can
    change signal handlers; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        # a handler set outside Python reads back as None and cannot be set again: the
        # default then
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
        if caught:
            if callable(previous):
                previous(signal.SIGINT, None)  # default_int_handler raises KeyboardInterrupt
            elif previous == signal.SIG_DFL:
                signal.raise_signal(signal.SIGINT)
            elif previous is None:  # (set outside Python) not lost: Python's own answer
                raise KeyboardInterrupt


def _fsync_folder(folder: Path) -> None:
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def tensors_to_bytes(
    tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None
) -> bytes:
    """Serialise tensors as safetensors; refuses a non-finite floating-point tensor."""
    clean: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"refusing to save tensor {name!r}: it holds NaN or infinity")
        clean[name] = tensor.detach().cpu().contiguous()
    return save_safetensors_bytes(clean, metadata=dict(metadata) if metadata else None)


def tensors_from_bytes(data: bytes, source: str) -> dict[str, torch.Tensor]:
    """Parse safetensors bytes; raises :class:`CheckpointError` naming ``source`` if corrupt."""
    try:
        return dict(load_safetensors_bytes(data))
    except (SafetensorError, ValueError, RuntimeError, OverflowError) as exc:
        raise CheckpointError(f"{source} is corrupt or truncated: {exc}") from exc


def save_checkpoint(
    directory: str | Path,
    config: RnnRbmConfig,
    model: RnnRbm,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write ``config.json`` and ``weights.safetensors`` into ``directory`` atomically.

    ``extra`` is JSON-ready metadata stored under ``"extra"`` in ``config.json`` (read it with
    :func:`read_extra`). Both are written before either replaces the old one, so a full
    disk or a Ctrl+C never leaves the weights of one epoch beside the config of another (see
    :func:`atomic_write_files`). Raises :class:`CheckpointError` for a non-finite tensor
    (nothing is written then).
    """
    directory = Path(directory)
    weights = tensors_to_bytes(dict(model.state_dict()))
    document = config.to_dict()
    if extra is not None:
        document["extra"] = dict(extra)
    try:
        text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"config cannot be written as JSON: {exc}") from exc
    try:
        atomic_write_files(
            {directory / WEIGHTS_NAME: weights, directory / CONFIG_NAME: text.encode("utf-8")}
        )
    except OSError as exc:
        raise CheckpointError(f"cannot write the checkpoint in {directory}: {exc}") from exc


def _read_config_document(directory: Path) -> dict[str, Any]:
    path = directory / CONFIG_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CheckpointError(f"missing file {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from exc
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # not a ValueError: thousands of nested brackets
        raise CheckpointError(f"{path} is not a checkpoint config: it is nested too deeply") from exc
    if not isinstance(document, dict):
        raise CheckpointError(f"{path} must hold a JSON object")
    return document


def read_config(directory: str | Path) -> RnnRbmConfig:
    """The :class:`RnnRbmConfig` of a checkpoint, without loading weights."""
    directory = Path(directory)
    document = _read_config_document(directory)
    document.pop("extra", None)
    try:
        return RnnRbmConfig.from_dict(document)
    except ConfigError as exc:
        raise CheckpointError(f"{directory / CONFIG_NAME}: {exc}") from exc


def read_extra(directory: str | Path) -> dict[str, Any]:
    """The ``extra`` metadata stored by :func:`save_checkpoint` (empty when none)."""
    extra = _read_config_document(Path(directory)).get("extra", {})
    return extra if isinstance(extra, dict) else {}


def _check_names(expected: Collection[str], tensors: Mapping[str, torch.Tensor], source: str) -> None:
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise CheckpointError(f"{source} lacks tensor(s) {', '.join(missing)}")
    unexpected = sorted(set(tensors) - set(expected))
    if unexpected:
        raise CheckpointError(f"{source} has unexpected tensor(s) {', '.join(unexpected)}")


def _parameter_dims(config: RnnRbmConfig) -> dict[str, tuple[tuple[str, int], ...]]:
    """The shapes :class:`RnnRbm` builds from ``config``, each size with its config field."""
    p = ("n_visible", config.n_visible)
    h = ("n_hidden", config.n_hidden)
    r = ("n_recurrent", config.n_recurrent)
    return {"W": (p, h), "bv": (p,), "bh": (h,), "Wuh": (r, h), "Wuv": (r, p), "Wvu": (p, r),
            "Wuu": (r, r), "bu": (r,)}


def check_sizes(config: RnnRbmConfig, tensors: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise :class:`CheckpointError`, naming the config field, unless the sizes fit ``tensors``.

    Checked before the model is built, so that a corrupt size (``n_hidden`` of 10**12) is
    reported instead of allocating the model it describes.
    """
    dims = _parameter_dims(config)
    _check_names(dims, tensors, source)
    for name, named_sizes in dims.items():
        got = tuple(tensors[name].shape)
        want = tuple(size for _, size in named_sizes)
        if got == want:
            continue
        message = f"{source}: tensor {name!r} has shape {got}, the config needs {want}"
        if len(got) == len(want):  # the first size that differs names the field
            field, size = next((f, s) for (f, s), g in zip(named_sizes, got, strict=True) if s != g)
            message += f": the config field {field!r} ({size}) does not match the weights"
        raise CheckpointError(message)


def check_state(model: RnnRbm, tensors: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise :class:`CheckpointError` unless ``tensors`` match the model's exactly."""
    expected = dict(model.state_dict())
    _check_names(expected, tensors, source)
    for name, want in expected.items():
        got = tensors[name]
        if tuple(got.shape) != tuple(want.shape):
            raise CheckpointError(
                f"{source}: tensor {name!r} has shape {tuple(got.shape)}, "
                f"the config needs {tuple(want.shape)}"
            )
        if got.dtype != want.dtype:
            raise CheckpointError(f"{source}: tensor {name!r} is {got.dtype}, expected {want.dtype}")
        if not bool(torch.isfinite(got).all()):
            raise CheckpointError(f"{source}: tensor {name!r} holds NaN or infinity")


def load_checkpoint(directory: str | Path) -> tuple[RnnRbmConfig, RnnRbm]:
    """Build the model from ``config.json`` and load ``weights.safetensors`` strictly.

    Raises :class:`CheckpointError` for a missing file, a malformed or newer config, corrupt
    or truncated weights, missing or extra tensors, a shape mismatch (checked before the model
    is built, naming the config field) or non-finite values.
    """
    directory = Path(directory)
    config = read_config(directory)
    weights_path = directory / WEIGHTS_NAME
    try:
        data = weights_path.read_bytes()
    except FileNotFoundError as exc:
        raise CheckpointError(f"missing file {weights_path}") from exc
    except OSError as exc:
        raise CheckpointError(f"cannot read {weights_path}: {exc}") from exc
    tensors = tensors_from_bytes(data, str(weights_path))
    check_sizes(config, tensors, str(weights_path))
    model = RnnRbm(config)
    check_state(model, tensors, str(weights_path))
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return config, model
