"""Dialogs that set the meter, the tempo or the key signature from a point of the song on
(Edit menu)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from composer_app.core.score import MAX_TEMPO_BPM, MIN_TEMPO_BPM, KeySignature

DENOMINATORS = (1, 2, 4, 8, 16, 32, 64)  # every note value a score's meter can hold
MAX_NUMERATOR = 255  # as a MIDI file's time signature holds


class _ChangeDialog(QDialog):
    """OK / Cancel, and *Remove Change* when there is a change at that point to remove
    (:attr:`remove_requested` then says which button closed it)."""

    def __init__(self, title: str, where: str, removable: bool, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.remove_requested = False
        self.form = QFormLayout()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.remove_button = None
        if removable:
            self.remove_button = self.buttons.addButton(
                "Remove Change", QDialogButtonBox.ButtonRole.DestructiveRole
            )
            self.remove_button.clicked.connect(self._on_remove_clicked)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(where))
        layout.addLayout(self.form)
        layout.addWidget(self.buttons)

    def _on_remove_clicked(self) -> None:
        self.remove_requested = True
        self.accept()


class TimeSignatureDialog(_ChangeDialog):
    """The meter from a bar on: ``numerator`` notes of 1/``denominator`` to the bar."""

    def __init__(
        self, numerator: int, denominator: int, bar_number: int, removable: bool,
        parent: QWidget | None = None, denominators: tuple[int, ...] = DENOMINATORS,
    ) -> None:
        """``denominators``: the beat values offered (those the score's resolution holds as
        whole ticks); the current one is offered too, so OK keeps it."""
        super().__init__("Time Signature", f"From bar {bar_number} on:", removable, parent)
        self.numerator_spin = QSpinBox()
        self.numerator_spin.setRange(1, MAX_NUMERATOR)
        self.numerator_spin.setValue(min(max(1, numerator), MAX_NUMERATOR))
        self.denominator_combo = QComboBox()
        for value in sorted({*denominators, denominator}):
            self.denominator_combo.addItem(str(value), value)
        index = self.denominator_combo.findData(denominator)
        self.denominator_combo.setCurrentIndex(max(0, index))
        self.form.addRow("Beats per bar", self.numerator_spin)
        self.form.addRow("Beat value (1/n)", self.denominator_combo)

    def meter(self) -> tuple[int, int]:
        """(numerator, denominator) as chosen."""
        return self.numerator_spin.value(), int(self.denominator_combo.currentData())


class TempoChangeDialog(_ChangeDialog):
    """The tempo from a point on, in quarter notes per minute."""

    def __init__(
        self, tempo_bpm: float, where: str, removable: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__("Tempo Change", f"From {where} on:", removable, parent)
        self.tempo_spin = QDoubleSpinBox()
        self.tempo_spin.setRange(MIN_TEMPO_BPM, MAX_TEMPO_BPM)
        self.tempo_spin.setDecimals(1)
        self.tempo_spin.setSuffix(" BPM")
        self.tempo_spin.setValue(tempo_bpm)
        self._shown_bpm = round(self.tempo_spin.value(), 1)
        self.form.addRow("Tempo", self.tempo_spin)

    def tempo_bpm(self) -> float:
        """The tempo as chosen. Units: quarter notes per minute."""
        return round(self.tempo_spin.value(), 1)

    def tempo_changed(self) -> bool:
        """Whether the user changed the tempo shown (the box shows one decimal, and a tempo
        out of its range at the nearest end: OK on what was shown is no change)."""
        return self.tempo_bpm() != self._shown_bpm


class KeySignatureDialog(_ChangeDialog):
    """The key signature from a bar on: one of the 15 major keys or their relative minors,
    each shown with its sharps or flats."""

    def __init__(
        self, current: KeySignature, where: str, removable: bool,
        parent: QWidget | None = None,
    ) -> None:
        """``where``: the place it applies from, as the dialog names it ("bar 3")."""
        super().__init__("Key Signature", f"From {where} on:", removable, parent)
        self.key_combo = QComboBox()
        for minor in (False, True):
            for sharps in range(-7, 8):
                key = KeySignature(0, sharps, minor)
                sign = "\u266f" if sharps > 0 else "\u266d"
                accidentals = "no sharps or flats" if sharps == 0 else f"{abs(sharps)} {sign}"
                self.key_combo.addItem(f"{key.name} ({accidentals})", _key_code(sharps, minor))
        self.key_combo.setCurrentIndex(
            max(0, self.key_combo.findData(_key_code(current.sharps, current.minor)))
        )
        self.form.addRow("Key", self.key_combo)

    def key(self) -> tuple[int, bool]:
        """(sharps, minor) as chosen: sharps -7..7, negative for flats."""
        sharps, minor = divmod(int(self.key_combo.currentData()), 2)
        return sharps - 7, bool(minor)


def _key_code(sharps: int, minor: bool) -> int:
    """A key signature as one whole number, the combo box's item data (a tuple is not
    found again by ``findData``)."""
    return (sharps + 7) * 2 + int(minor)
