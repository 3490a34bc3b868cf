"""The Continue dock: model choice, length, sampling settings, constraints and variations.

Thin: it only shows controls, keeps them in QSettings and emits what the user asked for;
the main window turns that into a :class:`~composer_app.workers.generation.GenerationRequest`.
"""

from __future__ import annotations

import math
import os
import random
import re

from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from composer_app.core.keys import PITCH_CLASS_NAMES, SCALES
from composer_app.ml.continuation import ContinuationSettings

OPEN_CHECKPOINT = "Open checkpoint…"
_SETTINGS_GROUP = "continuation"


def _pitch_name(pitch: int) -> str:
    return f"{PITCH_CLASS_NAMES[pitch % 12]}{pitch // 12 - 1}"


# Note names a user may type, any case: a letter, then a sharp or a flat (B#3 is C4)
_LETTER_PITCH_CLASSES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_PITCH_TEXT = re.compile(r"\s*(?:(?P<number>\d+)|(?P<name>[a-gA-G][#b]?)(?P<octave>-?\d+))\s*")
_PITCH_PREFIX = re.compile(r"\s*(?:\d*|[a-gA-G][#b]?-?)\s*")


def _parse_pitch(text: str) -> int | None:
    """The MIDI pitch of ``text`` ("60", "C4", "f#5", "Bb3"), or None."""
    match = _PITCH_TEXT.fullmatch(text)
    if match is None:
        return None
    if match["number"] is not None:
        return int(match["number"])
    name = match["name"].lower()
    accidental = {"#": 1, "b": -1}.get(name[1:], 0)
    return _LETTER_PITCH_CLASSES[name[0]] + accidental + 12 * (int(match["octave"]) + 1)


class PitchSpinBox(QSpinBox):
    """A MIDI pitch shown as a note name (60 = C4); change it with the arrows or the wheel, or
    type a name ("F#5", "bb3") or a number ("60")."""

    def textFromValue(self, value: int) -> str:  # noqa: N802 (Qt override)
        return _pitch_name(value)

    def valueFromText(self, text: str) -> int:  # noqa: N802 (Qt override)
        pitch = _parse_pitch(text)
        return self.value() if pitch is None else pitch

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:  # Qt override
        """A whole name or number in range is acceptable; a beginning of one ("F#", "1") may
        still become one; anything else is refused as it is typed."""
        pitch = _parse_pitch(text)
        if pitch is not None and self.minimum() <= pitch <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        if pitch is not None or _PITCH_PREFIX.fullmatch(text):
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Invalid, text, pos


class ContinuationPanel(QDockWidget):
    """Controls of the continuation (a dock).

    Signals: ``continue_requested()``, ``stop_requested()``, ``accept_requested()``,
    ``discard_requested()``, ``variation_selected(int)`` (0-based),
    ``model_selected(str)`` (a shipped model name), ``open_checkpoint_requested()``.
    """

    continue_requested = Signal()
    stop_requested = Signal()
    accept_requested = Signal()
    discard_requested = Signal()
    variation_selected = Signal(int)
    model_selected = Signal(str)
    open_checkpoint_requested = Signal()
    heat_map_toggled = Signal(bool)

    def __init__(
        self, model_names: list[str], parent: QWidget | None = None, default_model: str = ""
    ) -> None:
        super().__init__("Continue", parent)
        self.setObjectName("ContinuationPanel")
        body = QWidget(self)
        layout = QVBoxLayout(body)
        form = QFormLayout()
        layout.addLayout(form)

        self.model_combo = QComboBox()
        self.model_combo.addItems(model_names)
        self.model_combo.addItem(OPEN_CHECKPOINT)
        self.model_combo.setToolTip("The trained RNN-RBM that continues your melody")
        form.addRow("Model", self.model_combo)

        length_row = QHBoxLayout()
        self.length_spin = QSpinBox()
        self.length_spin.setRange(1, 1024)
        self.length_spin.setValue(4)
        self.length_unit_combo = QComboBox()
        self.length_unit_combo.addItems(["bars", "steps"])
        self.length_unit_combo.setToolTip("A step is the model's time unit (an eighth note for Nottingham)")
        length_row.addWidget(self.length_spin, 1)
        length_row.addWidget(self.length_unit_combo)
        form.addRow("Length", length_row)

        self.gibbs_spin = QSpinBox()
        self.gibbs_spin.setRange(0, 2000)
        self.gibbs_spin.setSpecialValueText("model's own")
        self.gibbs_spin.setValue(0)
        self.gibbs_spin.setToolTip(
            "Sampling steps per generated step (more = closer to the model): Gibbs steps, or "
            "annealing temperatures for a model that anneals; \"model's own\" is what its "
            "card recommends"
        )
        form.addRow("Sampling steps", self.gibbs_spin)

        self.temperature_spin = QDoubleSpinBox()
        self.temperature_spin.setRange(0.0, 5.0)
        self.temperature_spin.setSingleStep(0.05)
        self.temperature_spin.setValue(1.0)
        self.temperature_spin.setToolTip("Below 1: safer, more repetitive; above 1: wilder")
        form.addRow("Temperature", self.temperature_spin)

        seed_row = QHBoxLayout()
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setValue(1)
        self.new_seed_button = QPushButton("New")
        self.new_seed_button.setToolTip("Pick a new random seed")
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(self.new_seed_button)
        form.addRow("Random seed", seed_row)

        self.key_combo = QComboBox()
        self.key_combo.addItem("Seed's key", None)
        for tonic, name in enumerate(PITCH_CLASS_NAMES):
            self.key_combo.addItem(name, tonic)
        self.scale_combo = QComboBox()
        self.scale_combo.addItem("Any pitch", None)
        for scale in SCALES:
            if scale != "chromatic":
                self.scale_combo.addItem(scale, scale)
        key_row = QHBoxLayout()
        key_row.addWidget(self.key_combo)
        key_row.addWidget(self.scale_combo, 1)
        form.addRow("Key / scale", key_row)
        # a key means something only with a scale (it is the scale's tonic)
        self.key_combo.setToolTip("The tonic of the scale the notes must keep to")
        self.scale_combo.currentIndexChanged.connect(self._on_scale_combo_changed)
        self._on_scale_combo_changed()

        range_row = QHBoxLayout()
        self.low_spin = PitchSpinBox()
        self.high_spin = PitchSpinBox()
        for spin, value in ((self.low_spin, 21), (self.high_spin, 108)):
            spin.setRange(21, 108)
            spin.setValue(value)
        range_row.addWidget(self.low_spin)
        range_row.addWidget(QLabel("to"))
        range_row.addWidget(self.high_spin)
        form.addRow("Pitch range", range_row)

        self.polyphony_spin = QSpinBox()
        self.polyphony_spin.setRange(0, 12)
        self.polyphony_spin.setSpecialValueText("no limit")
        form.addRow("Max notes / step", self.polyphony_spin)

        self.rests_check = QCheckBox("Allow silent steps")
        self.rests_check.setToolTip(
            "Off: a step in which nothing would sound is drawn again (up to 20 times), so the "
            "music rarely falls silent (the folk tunes the models learned from almost never do)"
        )
        form.addRow("", self.rests_check)

        self.accompany_check = QCheckBox("Accompany my melody")
        self.accompany_check.setToolTip(
            "Keep your notes in the target region and let the model fill in around them"
        )
        form.addRow("", self.accompany_check)
        self.below_check = QCheckBox("Harmony below my melody")
        self.below_check.setToolTip(
            "Accompanying: no note above the top note of yours sounding at the time, as in "
            "the folk tunes the models learned (off: the model may add a tune above yours)"
        )
        self.below_check.setChecked(True)
        self.below_check.setEnabled(False)
        self.accompany_check.toggled.connect(self.below_check.setEnabled)
        form.addRow("", self.below_check)

        self.variations_spin = QSpinBox()
        self.variations_spin.setRange(1, 8)
        self.variations_spin.setValue(1)
        form.addRow("Variations", self.variations_spin)

        self.heat_map_check = QCheckBox("Show the model's note probabilities")
        form.addRow("", self.heat_map_check)

        buttons = QHBoxLayout()
        self.continue_button = QPushButton("Continue")
        self.continue_button.setToolTip("Continue from the playhead or the selected region (Ctrl+Enter)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop generating (Escape)")
        buttons.addWidget(self.continue_button)
        buttons.addWidget(self.stop_button)
        layout.addLayout(buttons)

        variation_row = QHBoxLayout()
        self.variation_combo = QComboBox()
        self.accept_button = QPushButton("Accept")
        self.discard_button = QPushButton("Discard")
        variation_row.addWidget(self.variation_combo, 1)
        variation_row.addWidget(self.accept_button)
        variation_row.addWidget(self.discard_button)
        layout.addLayout(variation_row)

        self.status_label = QLabel("Loading model…")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        layout.addStretch(1)
        self.setWidget(body)

        self.continue_button.clicked.connect(self.continue_requested)
        self.stop_button.clicked.connect(self.stop_requested)
        self.accept_button.clicked.connect(self.accept_requested)
        self.discard_button.clicked.connect(self.discard_requested)
        self.new_seed_button.clicked.connect(self._on_new_seed_clicked)
        self.variation_combo.activated.connect(self.variation_selected)
        self.model_combo.activated.connect(self._on_model_combo_activated)
        self.heat_map_check.toggled.connect(self.heat_map_toggled)
        self._current_model = ""
        if model_names:
            self.set_current_model(default_model if default_model in model_names else model_names[0])
        self.set_state(running=False, pending=False, model_ready=False)

    # ---- state ---------------------------------------------------------------------------
    def _on_scale_combo_changed(self, _index: int = 0) -> None:
        any_pitch = self.scale_combo.currentData() is None
        self.key_combo.setEnabled(not any_pitch)
        self.key_combo.setToolTip(
            "Choose a scale first: with any pitch allowed, no key is kept to" if any_pitch
            else "The tonic of the scale the notes must keep to"
        )

    def set_state(self, *, running: bool, pending: bool, model_ready: bool) -> None:
        """Enable what makes sense: Continue when idle with a model, Stop while running,
        Accept/Discard and the variation list while a continuation is pending."""
        self.continue_button.setEnabled(model_ready and not running)
        self.stop_button.setEnabled(running)
        self.accept_button.setEnabled(pending and not running)
        self.discard_button.setEnabled(pending and not running)
        # (a first variation without notes leaves nothing pending; the others are still there)
        self.variation_combo.setEnabled(not running and self.variation_combo.count() > 1)

    def set_model_sampling(self, sampler: str, steps: int) -> None:
        """Show what "model's own" means for the loaded model (its sampler and steps)."""
        what = "temperatures" if sampler == "annealed" else "Gibbs steps"
        self.gibbs_spin.setSpecialValueText(f"model's own ({steps} {what})")

    def set_status(self, text: str) -> None:
        """A line under the buttons (model state, key, progress)."""
        self.status_label.setText(text)

    def set_variations(self, count: int, current: int = 0) -> None:
        """Fill the variation chooser with ``count`` entries."""
        self.variation_combo.clear()
        for i in range(count):
            self.variation_combo.addItem(f"Variation {i + 1} of {count}")
        if count:
            self.variation_combo.setCurrentIndex(current)

    def set_current_model(self, name: str) -> None:
        """Show ``name`` as the chosen model (adds it if it is a checkpoint path)."""
        index = self.model_combo.findText(name)
        if index < 0:
            self.model_combo.insertItem(self.model_combo.count() - 1, name)
            index = self.model_combo.findText(name)
        self.model_combo.setCurrentIndex(index)
        self._current_model = name

    @property
    def current_model(self) -> str:
        """The model the user chose last (a shipped name or a checkpoint folder)."""
        return self._current_model

    def settings(self) -> ContinuationSettings:
        """The controls as engine settings, except the length (see :attr:`length_bars`)."""
        low, high = sorted((self.low_spin.value(), self.high_spin.value()))
        return ContinuationSettings(
            n_steps=1,
            gibbs_steps=self.gibbs_spin.value() or None,
            temperature=self.temperature_spin.value(),
            random_seed=self.seed_spin.value(),
            key_tonic=self.key_combo.currentData(),
            scale=self.scale_combo.currentData(),
            range_low=low,
            range_high=high,
            max_polyphony=self.polyphony_spin.value() or None,
            accompany=self.accompany_check.isChecked(),
            harmony_below=self.below_check.isChecked(),
            allow_rests=self.rests_check.isChecked(),
        )

    @property
    def length(self) -> tuple[int, str]:
        """How much to generate: ``(count, "bars" | "steps")``."""
        return self.length_spin.value(), self.length_unit_combo.currentText()

    def set_length(self, count: int, unit: str = "bars") -> None:
        """Set the length control (``unit`` is "bars" or "steps")."""
        self.length_unit_combo.setCurrentText(unit)
        self.length_spin.setValue(count)

    @property
    def n_variations(self) -> int:
        """How many continuations to generate at once."""
        return self.variations_spin.value()

    # ---- persistence -------------------------------------------------------------------
    def save_settings(self, settings: QSettings) -> None:
        """Keep the controls between runs."""
        settings.beginGroup(_SETTINGS_GROUP)
        settings.setValue("model", self._current_model)
        settings.setValue("length", self.length_spin.value())
        settings.setValue("length_unit", self.length_unit_combo.currentText())
        settings.setValue("sampling_steps", self.gibbs_spin.value())
        settings.setValue("temperature", self.temperature_spin.value())
        settings.setValue("seed", self.seed_spin.value())
        settings.setValue("key", self.key_combo.currentIndex())
        settings.setValue("scale", self.scale_combo.currentIndex())
        settings.setValue("low", self.low_spin.value())
        settings.setValue("high", self.high_spin.value())
        settings.setValue("polyphony", self.polyphony_spin.value())
        settings.setValue("accompany", self.accompany_check.isChecked())
        settings.setValue("harmony_below", self.below_check.isChecked())
        settings.setValue("allow_rests", self.rests_check.isChecked())
        settings.setValue("variations", self.variations_spin.value())
        settings.setValue("heat_map", self.heat_map_check.isChecked())
        settings.endGroup()

    def load_settings(self, settings: QSettings) -> None:
        """Restore the controls saved by :meth:`save_settings` (bad values are ignored).

        A value that is not a finite number, or a list index the list does not have, leaves
        its control as it is; a number beyond a control's range is clamped to it.
        """
        settings.beginGroup(_SETTINGS_GROUP)

        def number(key: str) -> float | None:
            try:
                value = float(settings.value(key, ""))
            except (TypeError, ValueError):
                return None
            # nan and inf come from a hand-edited file; int() of them raises
            return value if math.isfinite(value) else None

        def restore_spin(spin: QSpinBox | QDoubleSpinBox, key: str) -> None:
            value = number(key)
            if value is None:
                return
            # clamp here: a number beyond a C int overflows in setValue before Qt can clamp
            value = min(max(value, spin.minimum()), spin.maximum())
            spin.setValue(value if isinstance(spin, QDoubleSpinBox) else int(value))

        def restore_index(combo: QComboBox, key: str) -> None:
            value = number(key)
            if value is not None and 0 <= value < combo.count():
                combo.setCurrentIndex(int(value))

        def flag(key: str, default: bool = False) -> bool:
            return str(settings.value(key, str(default).lower())).lower() in ("true", "1")

        model = str(settings.value("model", "") or "")
        # a shipped model by name, or a checkpoint folder the user opened before
        if model and (self.model_combo.findText(model) >= 0 or os.path.isdir(model)):
            self.set_current_model(model)
        unit = str(settings.value("length_unit", "bars"))
        self.length_unit_combo.setCurrentText(unit if unit in ("bars", "steps") else "bars")
        restore_spin(self.length_spin, "length")
        # "gibbs" held 25, the old fixed default; the model's own is now the default
        restore_spin(self.gibbs_spin, "sampling_steps")
        restore_spin(self.temperature_spin, "temperature")
        restore_spin(self.seed_spin, "seed")
        restore_index(self.key_combo, "key")
        restore_index(self.scale_combo, "scale")
        restore_spin(self.low_spin, "low")
        restore_spin(self.high_spin, "high")
        restore_spin(self.polyphony_spin, "polyphony")
        self.accompany_check.setChecked(flag("accompany"))
        self.below_check.setChecked(flag("harmony_below", default=True))
        self.rests_check.setChecked(flag("allow_rests"))
        restore_spin(self.variations_spin, "variations")
        self.heat_map_check.setChecked(flag("heat_map"))
        settings.endGroup()

    # ---- slots ---------------------------------------------------------------------------
    def _on_new_seed_clicked(self) -> None:
        self.seed_spin.setValue(random.randrange(0, 2**31 - 1))

    def _on_model_combo_activated(self, index: int) -> None:
        text = self.model_combo.itemText(index)
        if text == OPEN_CHECKPOINT:
            # Show the model in use until a checkpoint is actually chosen.
            self.set_current_model(self._current_model)
            self.open_checkpoint_requested.emit()
        elif text != self._current_model:
            self._current_model = text
            self.model_selected.emit(text)

