"""Tests of checkpoint saving and strict loading: every failure is a clear CheckpointError."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from composer_app.ml import checkpoint as checkpoint_module
from composer_app.ml.checkpoint import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    CheckpointError,
    load_checkpoint,
    read_extra,
    save_checkpoint,
)
from composer_app.ml.rnnrbm import RnnRbm, RnnRbmConfig


def small_config() -> RnnRbmConfig:
    return RnnRbmConfig(n_hidden=7, n_recurrent=5, dataset="unit", training={"epochs": 3})


def saved(tmp_path: Path) -> tuple[Path, RnnRbmConfig, RnnRbm]:
    config = small_config()
    model = RnnRbm(config, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.bv.normal_()  # non-zero biases too, so the round trip is a real check
    save_checkpoint(tmp_path / "ckpt", config, model, extra={"best_epoch": 2})
    return tmp_path / "ckpt", config, model


def test_checkpoint_round_trip_is_bit_exact(tmp_path: Path) -> None:
    directory, config, model = saved(tmp_path)
    loaded_config, loaded = load_checkpoint(directory)
    assert loaded_config == config
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert read_extra(directory) == {"best_epoch": 2}
    # nothing but the two files: the temp files were renamed into place
    assert sorted(p.name for p in directory.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]


def _state(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_checkpoint_is_written_whole_or_not_at_all_on_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The disk fills while the second file is written: the old checkpoint must stay as it
    # was (not new weights beside the old config), with no temp file left.
    directory, config, model = saved(tmp_path)
    before = _state(directory)
    with torch.no_grad():
        model.W.add_(1.0)
    real_fdopen = checkpoint_module.os.fdopen
    opened: list[int] = []

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, _data):
            raise OSError(28, "No space left on device")

    def fdopen(fd, mode):
        opened.append(fd)
        handle = real_fdopen(fd, mode)
        return handle if len(opened) == 1 else FullDisk(handle)

    monkeypatch.setattr(checkpoint_module.os, "fdopen", fdopen)
    with pytest.raises(CheckpointError, match="No space left on device"):
        save_checkpoint(directory, config, model, extra={"best_epoch": 3})
    monkeypatch.undo()
    assert len(opened) == 2
    assert _state(directory) == before


def test_checkpoint_ctrl_c_during_the_renames_waits_until_both_are_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl+C (a real SIGINT) arrives just as the first file is renamed into place: it must be
    # raised only once the second is in place too, so config and weights stay one epoch's.
    import os
    import signal

    directory, config, model = saved(tmp_path)
    with torch.no_grad():
        model.W.add_(1.0)
    real_replace = checkpoint_module.os.replace
    renamed: list[str] = []

    def replace_then_interrupt(src, dst):
        real_replace(src, dst)
        renamed.append(Path(dst).name)
        if len(renamed) == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(checkpoint_module.os, "replace", replace_then_interrupt)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint(directory, config, model, extra={"best_epoch": 3})
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.undo()
    assert renamed == [WEIGHTS_NAME, CONFIG_NAME]
    assert read_extra(directory) == {"best_epoch": 3}
    _config, loaded = load_checkpoint(directory)
    assert torch.equal(loaded.W, model.W)
    assert sorted(p.name for p in directory.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]


def test_atomic_write_takes_a_name_as_long_as_the_file_system_allows(tmp_path: Path) -> None:
    # (evaluate --json writes the user's file name through it)
    import os

    path = tmp_path / ("r" * (os.pathconf(tmp_path, "PC_NAME_MAX") - 5) + ".json")
    checkpoint_module.atomic_write_bytes(path, b"{}")
    assert path.read_bytes() == b"{}"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_checkpoint_missing_file_is_named(tmp_path: Path) -> None:
    directory, _, _ = saved(tmp_path)
    (directory / WEIGHTS_NAME).unlink()
    with pytest.raises(CheckpointError, match="missing file .*weights.safetensors"):
        load_checkpoint(directory)
    with pytest.raises(CheckpointError, match="missing file .*config.json"):
        load_checkpoint(tmp_path / "nowhere")


def test_checkpoint_corrupt_weights_are_refused(tmp_path: Path) -> None:
    directory, _, _ = saved(tmp_path)
    (directory / WEIGHTS_NAME).write_bytes(b"\x00" * 8 + b"this is not safetensors")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(directory)


def test_checkpoint_truncated_weights_are_refused(tmp_path: Path) -> None:
    directory, _, _ = saved(tmp_path)
    data = (directory / WEIGHTS_NAME).read_bytes()
    (directory / WEIGHTS_NAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(directory)


def test_checkpoint_a_pickle_is_never_unpickled(tmp_path: Path) -> None:
    directory, _, _ = saved(tmp_path)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(marker),))  # type: ignore[return-value]

    (directory / WEIGHTS_NAME).write_bytes(pickle.dumps({"W": Payload()}))
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(directory)
    assert not marker.exists()


def test_checkpoint_wrong_shape_names_the_tensor_and_both_shapes(tmp_path: Path) -> None:
    directory, config, _ = saved(tmp_path)
    document = json.loads((directory / CONFIG_NAME).read_text())
    document["n_hidden"] = 9  # the weights were saved with 7 hidden units
    (directory / CONFIG_NAME).write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match=r"'W' has shape \(88, 7\), the config needs \(88, 9\)"):
        load_checkpoint(directory)


def test_checkpoint_absurd_size_is_named_before_the_model_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, _, _ = saved(tmp_path)
    document = json.loads((directory / CONFIG_NAME).read_text())
    document["n_hidden"] = 10**12  # W alone would need 88 * 10**12 * 4 bytes = 352 TB
    (directory / CONFIG_NAME).write_text(json.dumps(document))

    def build(config: RnnRbmConfig) -> RnnRbm:
        raise AssertionError("the model was built before its sizes were checked")

    monkeypatch.setattr(checkpoint_module, "RnnRbm", build)
    with pytest.raises(CheckpointError, match=r"'n_hidden' \(1000000000000\)"):
        load_checkpoint(directory)


def test_checkpoint_deeply_nested_config_is_refused(tmp_path: Path) -> None:
    directory, _, _ = saved(tmp_path)
    # json.loads raises RecursionError, not ValueError, this deep
    (directory / CONFIG_NAME).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError, match="config.json.*nested too deeply"):
        load_checkpoint(directory)


def test_checkpoint_missing_and_extra_tensors_are_named(tmp_path: Path) -> None:
    directory, _, model = saved(tmp_path)
    tensors = {k: v.clone() for k, v in model.state_dict().items()}
    del tensors["bu"]
    save_file(tensors, str(directory / WEIGHTS_NAME))
    with pytest.raises(CheckpointError, match="lacks tensor.*bu"):
        load_checkpoint(directory)
    tensors["bu"] = model.bu.detach().clone()
    tensors["Wextra"] = torch.zeros(3)
    save_file(tensors, str(directory / WEIGHTS_NAME))
    with pytest.raises(CheckpointError, match="unexpected tensor.*Wextra"):
        load_checkpoint(directory)


def test_checkpoint_newer_format_version_is_refused(tmp_path: Path) -> None:
    directory, _, _ = saved(tmp_path)
    document = json.loads((directory / CONFIG_NAME).read_text())
    document["format_version"] = 2
    (directory / CONFIG_NAME).write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="format_version.*2.*newer"):
        load_checkpoint(directory)


def test_checkpoint_bad_config_field_is_named(tmp_path: Path) -> None:
    directory, _, _ = saved(tmp_path)
    document = json.loads((directory / CONFIG_NAME).read_text())
    document["n_recurrent"] = -1
    (directory / CONFIG_NAME).write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="n_recurrent"):
        load_checkpoint(directory)
    (directory / CONFIG_NAME).write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(directory)


def test_checkpoint_non_finite_weights_are_never_written_or_loaded(tmp_path: Path) -> None:
    directory, config, model = saved(tmp_path)
    before = (directory / WEIGHTS_NAME).read_bytes()
    with torch.no_grad():
        model.Wuu[0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="'Wuu'.*NaN"):
        save_checkpoint(directory, config, model)
    assert (directory / WEIGHTS_NAME).read_bytes() == before  # the good checkpoint survives
    # a file carrying infinity (written by another tool) is refused on load
    tensors = {k: v.clone() for k, v in model.state_dict().items()}
    tensors["Wuu"][0, 0] = float("inf")
    save_file(tensors, str(directory / WEIGHTS_NAME))
    with pytest.raises(CheckpointError, match="'Wuu' holds NaN or infinity"):
        load_checkpoint(directory)


def _signal_module_with(fake_signal):
    """The ``signal`` module's constants and ``raise_signal`` with ``fake_signal`` as its
    ``signal()`` (a handler installed outside Python reads back as None)."""
    import signal
    import types

    fake = types.SimpleNamespace(**{k: getattr(signal, k) for k in dir(signal) if k.isupper()})
    fake.signal, fake.raise_signal = fake_signal, signal.raise_signal
    return fake


def test_checkpoint_write_restores_a_ctrl_c_handler_set_outside_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # signal.signal() reads such a handler back as None, which cannot be set again
    import signal

    calls: list[object] = []

    def fake_signal(signum, handler):
        calls.append(handler)
        if handler is None:
            raise TypeError("signal handler must be signal.SIG_IGN, signal.SIG_DFL, or a callable")
        return None  # the handler before was set outside Python

    monkeypatch.setattr(checkpoint_module, "signal", _signal_module_with(fake_signal))
    checkpoint_module.atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert (tmp_path / "x.bin").read_bytes() == b"data"
    assert calls[-1] == signal.SIG_DFL


def test_checkpoint_ctrl_c_during_the_write_is_not_lost_with_a_handler_set_outside_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed: list[object] = []

    def fake_signal(signum, handler):
        installed.append(handler)
        if len(installed) == 1:
            handler(signum, None)  # Ctrl+C arrives while the files are renamed
        return None  # the handler before was set outside Python

    monkeypatch.setattr(checkpoint_module, "signal", _signal_module_with(fake_signal))
    with pytest.raises(KeyboardInterrupt):
        checkpoint_module.atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert (tmp_path / "x.bin").read_bytes() == b"data"  # written whole first
