"""The Continue dock: the default model, settings kept between runs, engine settings."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings  # noqa: E402

from composer_app.gui.continuation_panel import OPEN_CHECKPOINT, ContinuationPanel  # noqa: E402


def test_continuation_panel_starts_on_the_default_model_not_the_first_name(qtbot) -> None:
    panel = ContinuationPanel(["jsb_chorales", "musedata", "nottingham"], default_model="nottingham")
    qtbot.addWidget(panel)
    assert panel.current_model == "nottingham"
    assert panel.model_combo.currentText() == "nottingham"
    assert panel.model_combo.itemText(panel.model_combo.count() - 1) == OPEN_CHECKPOINT


def test_continuation_panel_keeps_its_settings_between_runs(qtbot, tmp_path) -> None:
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    first = ContinuationPanel(["nottingham"], default_model="nottingham")
    qtbot.addWidget(first)
    first.set_length(24, "steps")
    first.temperature_spin.setValue(0.8)
    first.gibbs_spin.setValue(40)
    first.seed_spin.setValue(42)
    first.key_combo.setCurrentIndex(first.key_combo.findData(2))  # D
    first.scale_combo.setCurrentIndex(first.scale_combo.findData("major"))
    first.polyphony_spin.setValue(4)
    first.accompany_check.setChecked(True)
    first.rests_check.setChecked(True)
    first.save_settings(settings)
    second = ContinuationPanel(["nottingham"], default_model="nottingham")
    qtbot.addWidget(second)
    second.load_settings(settings)
    assert second.length == (24, "steps")
    engine = second.settings()
    assert (engine.temperature, engine.random_seed, engine.key_tonic, engine.scale) == (
        0.8, 42, 2, "major")
    assert engine.max_polyphony == 4 and engine.accompany and engine.allow_rests
    assert engine.gibbs_steps == 40
    assert engine.harmony_below  # the default, kept


def test_continuation_panel_harmony_below_the_melody_goes_with_accompany(qtbot, tmp_path) -> None:
    panel = ContinuationPanel(["nottingham"], default_model="nottingham")
    qtbot.addWidget(panel)
    assert panel.below_check.isChecked() and not panel.below_check.isEnabled()
    assert panel.settings().harmony_below  # on by default, as the models learned
    panel.accompany_check.setChecked(True)
    assert panel.below_check.isEnabled()
    panel.below_check.setChecked(False)
    assert not panel.settings().harmony_below
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    panel.save_settings(settings)
    again = ContinuationPanel(["nottingham"], default_model="nottingham")
    qtbot.addWidget(again)
    again.load_settings(settings)
    assert again.below_check.isEnabled() and not again.below_check.isChecked()


def test_continuation_panel_ignores_bad_numbers_in_the_settings_file(qtbot, tmp_path) -> None:
    # a hand-edited file: int(nan) and int(inf) raise, and 1e12 overflows Qt's C int
    path = tmp_path / "s.ini"
    path.write_text(
        "[continuation]\nlength=inf\nlength_unit=steps\nsampling_steps=nan\ntemperature=nan\n"
        "seed=1e12\nkey=1e30\nscale=-3\nlow=-inf\nhigh=1e30\npolyphony=nan\n"
        "variations=1e30\n"
    )
    panel = ContinuationPanel(["nottingham"], default_model="nottingham")
    qtbot.addWidget(panel)
    panel.load_settings(QSettings(str(path), QSettings.Format.IniFormat))
    # non-finite values and unknown list indexes leave the defaults
    assert panel.length == (4, "steps")
    assert panel.gibbs_spin.value() == 0 and panel.temperature_spin.value() == 1.0
    assert panel.low_spin.value() == 21 and panel.polyphony_spin.value() == 0
    assert panel.key_combo.currentIndex() == 0 and panel.scale_combo.currentIndex() == 0
    # finite numbers beyond a control's range are clamped to it
    assert panel.seed_spin.value() == 2**31 - 1
    assert panel.high_spin.value() == 108 and panel.variations_spin.value() == 8


def test_continuation_panel_no_limit_means_no_polyphony_cap(qtbot) -> None:
    panel = ContinuationPanel(["nottingham"])
    qtbot.addWidget(panel)
    assert panel.polyphony_spin.text() == "no limit"
    assert panel.settings().max_polyphony is None


def test_continuation_panel_draws_silent_steps_again_unless_rests_are_allowed(qtbot) -> None:
    panel = ContinuationPanel(["nottingham"])
    qtbot.addWidget(panel)
    assert not panel.rests_check.isChecked() and not panel.settings().allow_rests
    panel.rests_check.setChecked(True)
    assert panel.settings().allow_rests


def test_continuation_panel_samples_as_the_model_does_unless_told(qtbot) -> None:
    panel = ContinuationPanel(["nottingham"])
    qtbot.addWidget(panel)
    assert panel.gibbs_spin.text() == "model's own" and panel.settings().gibbs_steps is None
    panel.set_model_sampling("annealed", 100)  # what the controller says when a model loads
    assert panel.gibbs_spin.text() == "model's own (100 temperatures)"
    panel.set_model_sampling("gibbs", 25)
    assert panel.gibbs_spin.text() == "model's own (25 Gibbs steps)"
    assert panel.settings().gibbs_steps is None
    panel.gibbs_spin.setValue(25)
    assert panel.settings().gibbs_steps == 25


def test_continuation_panel_pitch_range_takes_typed_note_names(qtbot) -> None:
    # the boxes show note names, but only numbers could be typed ("C4" was refused)
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    panel = ContinuationPanel(["nottingham"], default_model="nottingham")
    qtbot.addWidget(panel)
    panel.show()
    for text, pitch in [("C4", 60), ("f#5", 78), ("Bb3", 58), ("62", 62), ("A0", 21),
                        ("E#4", 65), ("B#3", 60), ("Cb4", 59), ("fb4", 64)]:
        box = panel.low_spin
        box.setFocus()
        box.selectAll()
        QTest.keyClicks(box, text)
        QTest.keyClick(box, Qt.Key.Key_Return)
        assert box.value() == pitch, text
        assert box.text() == box.textFromValue(pitch)
    # out of range or not a pitch: the box keeps its value
    panel.low_spin.setValue(60)
    for text in ["C9", "H2", "x"]:
        panel.low_spin.selectAll()
        QTest.keyClicks(panel.low_spin, text)
        QTest.keyClick(panel.low_spin, Qt.Key.Key_Return)
        assert panel.low_spin.value() == 60, text


def test_continuation_panel_variation_list_is_open_without_a_pending_first_take(qtbot) -> None:
    # a first variation without notes leaves nothing pending; the others must stay reachable
    panel = ContinuationPanel(["nottingham"], default_model="nottingham")
    qtbot.addWidget(panel)
    panel.set_variations(3)
    panel.set_state(running=False, pending=False, model_ready=True)
    assert panel.variation_combo.isEnabled()
    panel.set_state(running=True, pending=False, model_ready=True)
    assert not panel.variation_combo.isEnabled()
    panel.set_variations(0)
    panel.set_state(running=False, pending=False, model_ready=True)
    assert not panel.variation_combo.isEnabled()
