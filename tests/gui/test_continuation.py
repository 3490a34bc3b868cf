"""Live continuation end to end: the real window, the shipped model, a real JACK port.

The seed is a Nottingham tune (from ../shared when present, else a folk-like tune built
here); the model continues it step by step; the notes are drawn in the roll and sounded
through rtmidi's JACK API to a second JACK client, whose received messages must match the
generated notes exactly.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from composer_app import paths
from composer_app.core.keys import SCALES, estimate_key
from composer_app.core.note import Note
from composer_app.core.score import Score, TempoChange, TimeSignature
from composer_app.gui.main_window import MainWindow
from composer_app.midi.files import read_mid, write_mid
from composer_app.midi.ports import PortListing, PortSpec

ROOT = Path(__file__).resolve().parents[2]
NO_MIDI = PortListing([], "no MIDI system in the test")
# COMPOSER_TEST_MODEL points these tests at another checkpoint folder (a fresh training run).
MODEL_DIR = Path(os.environ.get("COMPOSER_TEST_MODEL", str(paths.model_dir())))
pytestmark = pytest.mark.skipif(
    not (MODEL_DIR / "config.json").is_file(),
    reason=f"no trained model at {MODEL_DIR} (the shipped model is built by `composer-app train`)",
)
TUNE = paths.shared_data_dir() / "nottingham_midi" / "MIDI" / "melody" / "ashover1.mid"


def seed_score(tempo_bpm: float) -> Score:
    """A Nottingham tune (melody only), or a built D-major tune when ../shared is absent."""
    if TUNE.is_file():
        score = read_mid(TUNE)
    else:
        score = Score()
        tune = [62, 66, 69, 74, 73, 71, 69, 66, 67, 69, 71, 69, 66, 64, 62, 62]
        score.add_many(Note(i * 240, p, 240, 90) for i, p in enumerate(tune))
    # fast playback keeps the test short; the notes are what matters
    score.tempo_map = [TempoChange.from_bpm(0, tempo_bpm)]
    return score


QUESTIONS_ASKED: list[str] = []  # the texts of the questions the window asked
QUESTIONS_ANSWERED: list[object] = []  # the answers to give them, in order


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # dialogs would block: fail loudly instead, or answer a question a test expects
    monkeypatch.setattr("PySide6.QtWidgets.QMessageBox.warning",
                        lambda *a, **k: pytest.fail(f"unexpected dialog: {a[1:3]}"))

    def question(_parent, title, text, *_args, **_kwargs):
        if not QUESTIONS_ANSWERED:
            pytest.fail(f"unexpected question: {title}: {text}")
        QUESTIONS_ASKED.append(text)
        return QUESTIONS_ANSWERED.pop(0)

    QUESTIONS_ASKED.clear()
    QUESTIONS_ANSWERED.clear()
    monkeypatch.setattr("PySide6.QtWidgets.QMessageBox.question", question)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, autosave_dir=tmp_path / "autosave",
                   list_ports=lambda: NO_MIDI, preload_model=False)
    w.show()
    qtbot.waitExposed(w)
    with qtbot.waitSignal(w.continuation.model_loaded, timeout=60_000):
        w.continuation.load_model(str(MODEL_DIR))
    yield w
    w.shutdown()
    w.close()
    w.deleteLater()


def thread_player_window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MainWindow:
    """A window, shown, that plays on a thread (its output may be a recording port) and
    loads no model; a warning dialog fails the test."""
    from composer_app.workers.playback import thread_player_factory

    monkeypatch.setattr("PySide6.QtWidgets.QMessageBox.warning",
                        lambda *a, **k: pytest.fail(f"unexpected dialog: {a[1:3]}"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, autosave_dir=tmp_path / "autosave",
                   list_ports=lambda: NO_MIDI, preload_model=False,
                   player_factory=thread_player_factory)
    w.show()
    qtbot.waitExposed(w)
    return w


def load_seed(window: MainWindow, tmp_path: Path, tempo_bpm: float = 600.0) -> Score:
    path = tmp_path / "seed.mid"
    write_mid(seed_score(tempo_bpm), path)
    assert window.open_file(str(path), ask_to_save=False)
    score = window.document.score
    window.set_playhead(score.end_tick)
    return score


def run_continuation(qtbot, window: MainWindow, *, steps: int, seed_value: int = 1,
                     timeout_ms: int = 60_000) -> bool:
    panel = window.continuation.panel
    panel.set_length(steps, "steps")
    panel.seed_spin.setValue(seed_value)
    with qtbot.waitSignal(window.continuation.finished, timeout=timeout_ms) as done:
        window.activateWindow()
        QTest.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    return bool(done.args[0])


def start_long_run(qtbot, window: MainWindow):
    """Press Continue for 64 bars (far longer than a test) and wait for its first 2 steps;
    returns the controller, its run still going."""
    controller = window.continuation
    controller.panel.set_length(64, "bars")
    controller.start()
    qtbot.waitUntil(lambda: len(controller._frames) >= 2, timeout=20_000)
    return controller


def test_continuation_32_steps_drawn_and_heard_over_jack(qtbot, window, tmp_path, jack_server):
    from tests.midi.test_jack_integration import (
        Receiver,
        assert_within_attempts,
        hanging_notes,
    )

    score = load_seed(window, tmp_path)
    seed_notes = list(score.notes)
    seed_end = score.end_tick
    key = estimate_key(seed_notes)
    panel = window.continuation.panel
    # only the seed key's scale may sound
    scale = "major" if key.mode == "major" else "natural minor"
    panel.key_combo.setCurrentIndex(panel.key_combo.findData(key.tonic))
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData(scale))
    # The sound path is what this test checks: a short anneal (5 temperatures instead of the
    # default model's 100) keeps the CPU bursts that make the non-real-time JACK server drop
    # MIDI rare (one attempt failed 1 time in 20 this way, 3-5 in 20 at 100).
    panel.gibbs_spin.setValue(5)

    def attempt(receiver: Receiver) -> str:
        """Continue 32 steps into ``receiver``; "" when what it heard is what was drawn."""
        window.continuation.discard()
        window.set_playhead(seed_end)
        window.playback.set_port(PortSpec(name=receiver.open_input(), api="jack"))
        try:
            assert run_continuation(qtbot, window, steps=32)
            generated = window.document.generated_notes
            assert generated, "the model generated nothing in 32 steps"
            # a step is an eighth note: PPQ / 2 ticks (the tune's PPQ is kept); generation
            # starts at the first step boundary at or after the playhead (the seed's end)
            step = score.ppq // 2
            start_tick = -(-seed_end // step) * step
            assert window.continuation._start_tick == start_tick
            assert len(window.continuation._frames) == 32
            assert all(start_tick <= n.start_tick and n.end_tick <= start_tick + 32 * step
                       for n in generated)
            allowed = {(key.tonic + s) % 12 for s in SCALES[scale]}
            assert all(n.pitch % 12 in allowed for n in generated)
            # the seed is untouched
            assert [n for n in window.document.score.notes if not n.generated] == seed_notes
            # the sound: wait for the stream to play out, then compare note by note
            qtbot.waitUntil(lambda: not window.playback.is_playing, timeout=30_000)
            received = receiver.wait_for(2 * len(generated), timeout_s=5)
        finally:
            window.playback.set_port(None)
        ons = [m[1] for m in received if m[0] & 0xF0 == 0x90 and m[2] > 0]
        by_start: dict[int, list[int]] = {}
        for n in generated:
            by_start.setdefault(n.start_tick, []).append(n.pitch)
        expected_groups = [sorted(by_start[t]) for t in sorted(by_start)]
        got_groups, i = [], 0
        for group in expected_groups:
            got_groups.append(sorted(ons[i:i + len(group)]))
            i += len(group)
        if got_groups != expected_groups or i != len(ons):
            return f"heard {got_groups} + {ons[i:]}, drawn {expected_groups}"
        if hanging_notes(received):
            return f"notes left sounding: {hanging_notes(received)}"
        return ""

    receiver = Receiver()
    try:
        # the same random seed each time: the same notes, so a retry tests the same music
        assert_within_attempts(receiver, attempt)
    finally:
        receiver.close()


def test_continuation_stop_halts_within_a_step_and_silences(qtbot, window, tmp_path,
                                                           jack_server):
    from tests.midi.test_jack_integration import Receiver, hanging_notes

    receiver = Receiver()
    try:
        window.playback.set_port(PortSpec(name=receiver.open_input(), api="jack"))
        load_seed(window, tmp_path, tempo_bpm=240.0)  # an eighth lasts 125 ms
        panel = window.continuation.panel
        panel.set_length(64, "bars")
        window.continuation.start()
        controller = window.continuation
        qtbot.waitUntil(lambda: len(controller._frames) >= 4, timeout=20_000)
        with qtbot.waitSignal(controller.finished, timeout=5_000) as done:
            QTest.keyClick(window, Qt.Key.Key_Escape)  # Escape stops generating
        assert done.args == [False]
        frames_at_stop = len(controller._frames)
        assert frames_at_stop < 64 * 8
        assert not window.playback.is_playing
        qtbot.wait(300)
        assert len(controller._frames) == frames_at_stop  # nothing more after Stop
        assert hanging_notes(receiver.wait_for(10**6, timeout_s=0.3)) == set()
        assert window.document.generated_notes  # what was generated stays pending
    finally:
        window.playback.set_port(None)
        receiver.close()


def test_continuation_accept_is_one_undo_step(qtbot, window, tmp_path):
    load_seed(window, tmp_path)
    seed = list(window.document.score.notes)
    assert run_continuation(qtbot, window, steps=16)
    pending = window.document.generated_notes
    assert pending
    window.continuation.accept_action.trigger()
    notes = window.document.score.notes
    assert not window.document.generated_notes
    assert len(notes) == len(seed) + len(pending)
    window.document.undo_stack.undo()
    assert list(window.document.score.notes) == seed  # the whole continuation is gone
    window.document.undo_stack.redo()
    assert len(window.document.score.notes) == len(seed) + len(pending)


@pytest.mark.parametrize("enter", [Qt.Key.Key_Return, Qt.Key.Key_Enter])
def test_continuation_accept_by_either_enter_key(qtbot, window, tmp_path, enter):
    # the guide says Ctrl+Shift+Enter: the keypad's Enter as well as Return
    load_seed(window, tmp_path)
    assert run_continuation(qtbot, window, steps=4)
    assert window.document.generated_notes
    window.activateWindow()
    QTest.keyClick(window, enter, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert not window.document.generated_notes


def test_continuation_discard_removes_it(qtbot, window, tmp_path):
    load_seed(window, tmp_path)
    seed = list(window.document.score.notes)
    assert run_continuation(qtbot, window, steps=8)
    window.continuation.discard_action.trigger()
    assert list(window.document.score.notes) == seed
    assert not window.document.is_dirty


def test_continuation_same_seed_value_same_notes(qtbot, window, tmp_path):
    load_seed(window, tmp_path)
    assert run_continuation(qtbot, window, steps=24, seed_value=11)
    first = window.document.generated_notes
    window.continuation.discard()
    assert run_continuation(qtbot, window, steps=24, seed_value=11)
    assert window.document.generated_notes == first
    window.continuation.discard()
    assert run_continuation(qtbot, window, steps=24, seed_value=12)
    assert window.document.generated_notes != first


def test_continuation_accompany_keeps_every_clamped_note(qtbot, window, tmp_path):
    score = load_seed(window, tmp_path)
    step = 240 * score.ppq // 480
    # a melody after the seed, in the region the model must accompany
    start = -(-score.end_tick // step) * step
    melody = [Note(start + i * 2 * step, p, 2 * step, 100)
              for i, p in enumerate([74, 73, 71, 69, 67, 66, 64, 62])]
    from composer_app.core.edits import add_notes

    window.document.push(add_notes(melody))
    window.editor.set_region(start, start + 16 * step)
    window.continuation.panel.accompany_check.setChecked(True)
    user_before = [n for n in window.document.score.notes if not n.generated]
    assert run_continuation(qtbot, window, steps=16)
    assert [n for n in window.document.score.notes if not n.generated] == user_before
    generated = window.document.generated_notes
    assert generated, "the model added nothing around the melody"
    assert all(start <= n.start_tick < start + 16 * step for n in generated)
    # the clamped melody is never re-generated on top of itself
    melody_cells = {(n.pitch, t) for n in melody for t in range(n.start_tick, n.end_tick, step)}
    generated_cells = {(n.pitch, t) for n in generated
                       for t in range(n.start_tick, n.end_tick, step)}
    assert not melody_cells & generated_cells


def test_continuation_accompanies_a_soft_melody_as_softly(qtbot, window, tmp_path):
    # a melody drawn softly, accompanied from bar 1 (nothing before it): the harmony was
    # always at velocity 90, more than twice as loud as the melody
    from composer_app.core.edits import add_notes

    melody = [Note(i * 480, p, 480, 40) for i, p in enumerate([72, 71, 69, 67, 65, 64, 62, 60])]
    window.document.push(add_notes(melody))
    window.set_playhead(0)
    window.editor.view.set_selection(())
    window.continuation.panel.accompany_check.setChecked(True)
    assert run_continuation(qtbot, window, steps=8)
    generated = window.document.generated_notes
    assert generated and {n.velocity for n in generated} == {40}
    # drawn live and streamed to the synth at that velocity too
    assert {n.velocity for n in window.continuation._frames_as_notes()} == {40}


def test_continuation_after_a_pickup_keeps_the_beat_the_channel_and_a_held_note(
    qtbot, window, tmp_path
):
    # A one-sixteenth pickup, then a bar of 4/4 on channel 4 whose last note is held two
    # eighths over the next bar line; the playhead on that bar line (inside the held note).
    # The tune is the second track on its channel (a drone note is the first).
    score = Score(time_signatures=[TimeSignature(0, 1, 16), TimeSignature(120, 4, 4)])
    score.tempo_map = [TempoChange.from_bpm(0, 600.0)]
    score.add(Note(0, 38, 120, 90, channel=4))
    score.add(Note(0, 60, 120, 90, channel=4, track=1))
    tune = [62, 66, 69, 74, 73, 71, 69]
    score.add_many(Note(120 + i * 240, p, 240, 90, channel=4, track=1) for i, p in enumerate(tune))
    held = Note(120 + 7 * 240, 74, 3 * 240, 90, channel=4, track=1)  # to 2040 + 480
    score.add(held)
    write_mid(score, tmp_path / "pickup.mid")
    assert window.open_file(str(tmp_path / "pickup.mid"), ask_to_save=False)
    window.set_playhead(2040)
    panel = window.continuation.panel
    panel.set_length(1, "bars")
    with qtbot.waitSignal(window.continuation.finished, timeout=60_000):
        window.continuation.start()
    generated = window.document.generated_notes
    assert generated
    # on the eighths of bar 3 (from its bar line, not from tick 0), one bar long
    assert all((n.start_tick - 2040) % 240 == 0 for n in generated)
    assert 2040 <= min(n.start_tick for n in generated)
    assert max(n.end_tick for n in generated) <= 2040 + 1920
    # in the part it continues (its channel and track), and never striking the held D5
    # again while it sounds
    assert {(n.channel, n.track) for n in generated} == {(4, 1)}
    assert not [n for n in generated if n.pitch == held.pitch and n.start_tick < held.end_tick]
    window.continuation.accept()
    assert held in window.document.score.notes


def test_continuation_again_after_hearing_a_take_starts_where_it_began(qtbot, window, tmp_path):
    # The take's playback leaves the playhead at its end: Continue again threw the take away
    # and began after it, with the take's length of silence in the seed.
    load_seed(window, tmp_path)
    assert run_continuation(qtbot, window, steps=16, seed_value=5)
    step = window.document.score.ppq // 2  # the model's eighth-note step
    first = window.document.generated_notes
    take_start = min(n.start_tick for n in first)

    # heard to its end: its playback leaves the playhead there
    qtbot.waitUntil(
        lambda: not window.playback.is_playing and not window.playback.is_streaming,
        timeout=30_000,
    )
    assert window.playhead_tick == take_start + 16 * step
    assert run_continuation(qtbot, window, steps=16, seed_value=5)
    assert window.document.generated_notes == first  # the same take again, from its start
    # a playhead the user puts after the take is where the next one starts (the take kept)
    window.playback.stop()
    qtbot.waitUntil(lambda: not window.playback.is_playing, timeout=5000)
    window.set_playhead(take_start + 32 * step)
    assert run_continuation(qtbot, window, steps=16, seed_value=5)
    assert min(n.start_tick for n in window.document.generated_notes) >= take_start + 32 * step
    assert [n.accepted() for n in first] == [
        n for n in window.document.score.notes if n.start_tick >= take_start and not n.generated
    ]


def test_continuation_after_a_ruler_click_at_a_pending_takes_end_keeps_the_take(
    qtbot, window, tmp_path
):
    # The guide: "to go on after it instead, Accept it first (or click the ruler after it)".
    # A click after the take, and Continue, threw the take away unasked, and the model went
    # on from the user's notes with a take's length of silence before it.
    reports: list[str] = []
    window.continuation.status_reported.connect(reports.append)
    score = load_seed(window, tmp_path)
    user_notes = list(score.notes)
    assert run_continuation(qtbot, window, steps=8, seed_value=2)
    take = window.document.generated_notes
    assert take
    take_end = window.continuation._take_end_tick
    window.playback.stop()
    qtbot.waitUntil(lambda: not window.playback.is_playing, timeout=5000)
    window.editor.ruler.playhead_requested.emit(take_end)  # a click on the ruler there
    assert window.playhead_tick == take_end
    assert run_continuation(qtbot, window, steps=8, seed_value=2)
    assert window.continuation._start_tick == take_end
    kept = [n for n in window.document.score.notes if not n.generated]
    assert kept == sorted(user_notes + [n.accepted() for n in take])
    assert window.document.generated_notes  # the new take, pending
    assert any("The take before it is kept (" in r for r in reports)
    # the kept take is an undo step of its own, the new one is not yet one
    window.continuation.discard()
    window.window_actions.undo.trigger()
    assert list(window.document.score.notes) == user_notes
    # without the click, Continue again after hearing a take is a new take from its start
    window.window_actions.redo.trigger()
    assert run_continuation(qtbot, window, steps=8, seed_value=2)
    second_end = window.continuation._take_end_tick
    qtbot.waitUntil(  # heard to its end: its playback leaves the playhead there
        lambda: not window.playback.is_playing and not window.playback.is_streaming,
        timeout=30_000,
    )
    assert window.playhead_tick == second_end
    assert run_continuation(qtbot, window, steps=8, seed_value=2)
    assert window.continuation._start_tick == take_end


def test_continuation_heat_map_stays_while_the_take_is_pending(qtbot, window, tmp_path):
    # It was cleared the moment generation ended (a 2-bar take: after about 60 ms).
    load_seed(window, tmp_path)
    window.continuation.panel.heat_map_check.setChecked(True)
    assert run_continuation(qtbot, window, steps=16)
    qtbot.wait(10)  # the map is refreshed on the next turn of the event loop
    view = window.editor.view
    assert view.shows_probabilities
    window.continuation.panel.heat_map_check.setChecked(False)
    assert not view.shows_probabilities
    window.continuation.panel.heat_map_check.setChecked(True)
    assert view.shows_probabilities
    window.continuation.accept_action.trigger()
    assert not view.shows_probabilities


def test_continuation_messages_say_silently_and_count_in_words(qtbot, window, tmp_path):
    # "Generating silently" was replaced within milliseconds by "Generating in D major…";
    # "1 generated notes"; "0 generated notes … Accept keeps them" with Accept disabled
    reports: list[str] = []
    window.continuation.status_reported.connect(reports.append)
    load_seed(window, tmp_path)
    assert run_continuation(qtbot, window, steps=8)
    generating = [r for r in reports if r.startswith("Generating in")]
    assert generating and "silently (no MIDI output" in generating[-1]
    count = len(window.document.generated_notes)
    assert f"Done: {count} generated note{'s' if count != 1 else ''} in" in reports[-1]
    window.continuation.accept()
    assert reports[-1].startswith(f"Accepted {count} generated note{'s' if count != 1 else ''} ")
    window.document.undo_stack.undo()
    # a range the model never plays in (and silent steps allowed): nothing to accept
    panel = window.continuation.panel
    panel.low_spin.setValue(21)
    panel.high_spin.setValue(22)
    panel.rests_check.setChecked(True)
    window.continuation.discard()
    assert run_continuation(qtbot, window, steps=4)
    assert not window.document.generated_notes
    assert "the model played no note here" in reports[-1] and "Accept" not in reports[-1]


def test_continuation_message_names_the_chosen_scale(qtbot, window, tmp_path):
    # it named the seed's estimated key even when the notes kept to another key and scale
    reports: list[str] = []
    window.continuation.status_reported.connect(reports.append)
    load_seed(window, tmp_path)
    panel = window.continuation.panel
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData("dorian"))
    panel.key_combo.setCurrentIndex(panel.key_combo.findData(2))  # D
    assert run_continuation(qtbot, window, steps=4)
    assert any(r.startswith("Generating in D dorian") for r in reports), reports
    panel.key_combo.setCurrentIndex(panel.key_combo.findData(None))  # the seed's key
    window.continuation.discard()
    reports.clear()
    assert run_continuation(qtbot, window, steps=4)
    seed_key = estimate_key([n for n in window.document.score.notes if not n.generated])
    tonic = seed_key.name.split()[0]
    assert any(r.startswith(f"Generating in {tonic} dorian") for r in reports), reports


def test_continuation_from_mid_score_says_it_plays_over_later_notes(qtbot, window, tmp_path):
    reports: list[str] = []
    window.continuation.status_reported.connect(reports.append)
    score = load_seed(window, tmp_path)
    middle = sorted(n.start_tick for n in score.notes)[len(score) // 2]
    window.set_playhead(middle)
    assert run_continuation(qtbot, window, steps=4)
    assert "plays over your notes after the start" in " ".join(reports)
    # and the last word on the take, when Accept is decided, still says so
    assert "play over your notes after the start)" in reports[-1] or (
        "plays over your notes after the start)" in reports[-1]
    )
    # after the end of the score there is nothing to play over
    window.continuation.discard()
    reports.clear()
    window.set_playhead(window.document.score.end_tick)
    assert run_continuation(qtbot, window, steps=4)
    assert "plays over" not in " ".join(reports)


def test_continuation_key_needs_a_scale(window):
    panel = window.continuation.panel
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData(None))
    assert not panel.key_combo.isEnabled() and "scale first" in panel.key_combo.toolTip()
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData("dorian"))
    assert panel.key_combo.isEnabled()


def test_continuation_panel_says_how_the_loaded_model_samples(window):
    config = window.continuation._model_config
    what = "temperatures" if config.sampler == "annealed" else "Gibbs steps"
    spin = window.continuation.panel.gibbs_spin
    assert spin.text() == f"model's own ({config.sampling_steps} {what})"
    assert window.continuation.panel.settings().gibbs_steps is None


def test_continuation_works_without_midi_output(qtbot, window, tmp_path):
    window.playback.set_port(None)
    load_seed(window, tmp_path)
    assert run_continuation(qtbot, window, steps=8)
    assert window.document.generated_notes
    reported: list[str] = []
    window.continuation.status_reported.connect(reported.append)
    window.continuation.discard()
    assert run_continuation(qtbot, window, steps=8)
    assert window.document.generated_notes
    assert any("silently" in message for message in reported), reported


def test_continuation_quit_during_generation_exits_cleanly(tmp_path):
    seed = tmp_path / "seed.mid"
    write_mid(seed_score(120.0), seed)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "COMPOSER_SETTINGS_FILE": str(tmp_path / "settings.ini"),
           "COMPOSER_AUTOSAVE_DIR": str(tmp_path / "autosave")}
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("continuation/model", str(MODEL_DIR))
    settings.sync()
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), str(seed), "--test-continue-then-quit"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("quitting:"))
    assert "generating=True" in line
    if "pending=0" not in line:  # notes already drawn: quitting asked, and Discard quit
        asked = [ln for ln in done.stdout.splitlines() if ln.startswith("asked:")]
        assert asked and "generated continuation you have not accepted" in asked[0]
    assert "QThread" not in done.stderr and "Traceback" not in done.stderr


def test_continuation_pending_notes_cannot_be_selected_or_edited(qtbot, window, tmp_path):
    load_seed(window, tmp_path)
    assert run_continuation(qtbot, window, steps=16)
    pending = window.document.generated_notes
    assert pending
    window.editor.select_all()
    # only the user's notes: the proposal changes only through Accept or Discard
    assert window.document.selection and not any(n.generated for n in window.document.selection)
    window.editor.delete_selection()
    assert window.document.generated_notes == pending
    window.document.undo_stack.undo()
    window.continuation.accept_action.trigger()
    window.document.undo_stack.undo()  # the whole continuation goes, nothing raises
    assert not window.document.generated_notes
    assert not any(n.generated for n in window.document.score.notes)


def test_continuation_new_document_during_a_run_gets_nothing_of_it(qtbot, window, tmp_path):
    load_seed(window, tmp_path, tempo_bpm=120.0)
    controller = start_long_run(qtbot, window)
    # the notes generated so far are unaccepted work: New asks (Discard goes on)
    QUESTIONS_ANSWERED.append(QMessageBox.StandardButton.Discard)
    assert window.new_file()
    assert "continuation you have not accepted" in QUESTIONS_ASKED[0]
    qtbot.waitUntil(lambda: not controller.is_running, timeout=10_000)
    qtbot.wait(200)  # anything still queued from the old run arrives now
    assert list(window.document.score.notes) == []


def test_continuation_again_starts_at_the_playhead_the_user_set(qtbot, window, tmp_path):
    score = load_seed(window, tmp_path)
    step = score.ppq // 2
    assert run_continuation(qtbot, window, steps=8)
    first_start = window.continuation._start_tick
    window.set_playhead(first_start + 40 * step)  # the user moves on, the proposal pending
    assert run_continuation(qtbot, window, steps=8)
    assert window.continuation._start_tick == first_start + 40 * step


def test_continuation_pending_notes_are_not_saved(qtbot, window, tmp_path, monkeypatch):
    load_seed(window, tmp_path)
    user_notes = list(window.document.score.notes)
    assert run_continuation(qtbot, window, steps=8)
    assert window.document.generated_notes
    out = tmp_path / "saved.mid"
    monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getSaveFileName",
                        lambda *a, **k: (str(out), ""))
    assert window.save_as()
    saved = read_mid(out)
    assert [(n.start_tick, n.pitch) for n in saved.notes] == \
        [(n.start_tick, n.pitch) for n in user_notes]


@pytest.mark.parametrize("answer", ["Save", "Cancel"])
def test_continuation_not_accepted_is_offered_before_the_document_goes(
    qtbot, window, tmp_path, answer
):
    # A continuation the user has not accepted is work that New, Open or Quit would lose:
    # they ask first; Save accepts it and saves, Cancel keeps everything as it was.
    load_seed(window, tmp_path)
    seed_path = tmp_path / "seed.mid"
    user_notes = list(window.document.score.notes)
    assert run_continuation(qtbot, window, steps=8)
    pending = list(window.document.generated_notes)
    assert pending and not window.document.is_dirty
    QUESTIONS_ANSWERED.append(getattr(QMessageBox.StandardButton, answer))
    went_on = window.new_file()
    assert "Accept it and save?" in QUESTIONS_ASKED[0]
    if answer == "Save":
        assert went_on and window.file_path is None  # a new, empty document now
        saved = {(n.start_tick, n.pitch) for n in read_mid(seed_path).notes}
        assert saved == {(n.start_tick, n.pitch) for n in user_notes + pending}
    else:
        assert not went_on and window.file_path == str(seed_path)
        assert window.document.generated_notes == pending
        assert [(n.start_tick, n.pitch) for n in read_mid(seed_path).notes] == \
            [(n.start_tick, n.pitch) for n in user_notes]


@pytest.mark.parametrize("failure", ["dialog cancelled", "disk full"])
def test_continuation_stays_pending_when_save_in_the_question_does_not_save(
    qtbot, window, tmp_path, monkeypatch, failure
):
    # "Accept it and save?" → Save, then the file dialog is cancelled or the write fails:
    # nothing was saved, so nothing is accepted either; the take still waits for the user.
    load_seed(window, tmp_path)
    assert run_continuation(qtbot, window, steps=8)
    pending = list(window.document.generated_notes)
    undo_steps = window.document.undo_stack.count()
    if failure == "dialog cancelled":
        window.document.file_path = None  # untitled: Save asks for a name
        monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getSaveFileName",
                            lambda *a, **k: ("", ""))
    else:
        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr("composer_app.gui.main_window.write_mid", full)
        errors = []
        monkeypatch.setattr(QMessageBox, "critical",
                            staticmethod(lambda *a, **k: errors.append(a[2])))
    QUESTIONS_ANSWERED.append(QMessageBox.StandardButton.Save)
    assert not window.new_file()
    assert window.document.generated_notes == pending
    assert window.document.undo_stack.count() == undo_steps
    assert window.continuation.accept_action.isEnabled()
    if failure == "disk full":
        assert errors and "No space left on device" in errors[0]


def test_continuation_cancel_in_the_question_leaves_a_live_run_going(qtbot, window, tmp_path):
    load_seed(window, tmp_path, tempo_bpm=120.0)
    controller = start_long_run(qtbot, window)
    QUESTIONS_ANSWERED.append(QMessageBox.StandardButton.Cancel)
    assert not window.new_file()
    assert controller.is_running  # nothing was stopped: Cancel means as you were
    frames = len(controller._frames)
    qtbot.waitUntil(lambda: len(controller._frames) > frames, timeout=20_000)
    controller.stop()
    qtbot.waitUntil(lambda: not controller.is_running, timeout=10_000)


def test_continuation_save_in_the_question_stops_a_live_run_and_keeps_its_notes(
    qtbot, window, tmp_path
):
    load_seed(window, tmp_path, tempo_bpm=120.0)
    user_notes = list(window.document.score.notes)
    controller = window.continuation
    controller.panel.set_length(64, "bars")
    controller.start()
    qtbot.waitUntil(lambda: len(window.document.generated_notes) >= 2, timeout=20_000)
    QUESTIONS_ANSWERED.append(QMessageBox.StandardButton.Save)
    assert window.new_file()
    assert not controller.is_running
    saved = read_mid(tmp_path / "seed.mid").notes
    assert len(saved) >= len(user_notes) + 2  # the seed and what was generated before Save
    assert {(n.start_tick, n.pitch) for n in user_notes} <= {(n.start_tick, n.pitch)
                                                             for n in saved}


def test_continuation_waits_for_a_model_being_loaded(qtbot, window, tmp_path):
    # Continue pressed while another model loads would start with the old model's step size
    # while the worker generates with the new one's: it waits for the load instead.
    load_seed(window, tmp_path)
    controller = window.continuation
    with qtbot.waitSignal(controller.model_loaded, timeout=60_000):
        controller.load_model(str(MODEL_DIR))
        assert not controller.model_ready and not controller.continue_action.isEnabled()
        controller.start()
        assert not controller.is_running
        assert "still loading" in controller.panel.status_label.text()
    assert controller.model_ready and controller.continue_action.isEnabled()


@pytest.mark.parametrize("command", ["toggle_play", "panic"])
def test_continuation_space_or_panic_stops_the_generation_too(qtbot, window, tmp_path, command):
    # Space (Play/Stop) and Panic during a live continuation stop it as Escape does; they
    # used to silence it while the generation raced on, unheard
    load_seed(window, tmp_path, tempo_bpm=120.0)
    controller = window.continuation
    with qtbot.waitSignal(controller.finished, timeout=20_000) as finished:
        start_long_run(qtbot, window)
        getattr(window, command)()
    assert finished.args == [False]
    assert len(controller._frames) < 64 * 8  # stopped, not run to the end
    assert not window.playback.is_playing


def test_continuation_of_no_notes_says_it_starts_from_silence(qtbot, window):
    controller = window.continuation
    controller.panel.set_length(64, "bars")
    with qtbot.waitSignal(controller.finished, timeout=20_000):
        controller.start()  # an empty score: nothing to continue
        qtbot.waitUntil(lambda: "from silence" in controller.panel.status_label.text(),
                        timeout=10_000)
        controller.stop()


def test_continuation_falls_back_to_the_default_model_when_the_remembered_one_fails(
    qtbot, tmp_path, monkeypatch
):
    # A checkpoint folder opened in an earlier session no longer loads: every start ended with
    # "No model loaded." and Continue disabled, until the user picked another model.
    broken = tmp_path / "mine"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("continuation/model", str(broken))
    settings.sync()
    warnings: list[str] = []
    monkeypatch.setattr("PySide6.QtWidgets.QMessageBox.warning",
                        lambda _parent, _title, text, *a, **k: warnings.append(text))
    w = MainWindow(settings=settings, autosave_dir=tmp_path / "autosave",
                   list_ports=lambda: NO_MIDI, preload_model=True)
    try:
        qtbot.waitUntil(lambda: w.continuation.model_ready, timeout=60_000)
        assert w.continuation.panel.current_model == paths.DEFAULT_MODEL_NAME
        assert w.continuation.continue_action.isEnabled()
        assert len(warnings) == 1 and "is being loaded instead" in warnings[0]
    finally:
        w.shutdown()
        w.close()
        w.deleteLater()


def test_continuation_seed_is_not_the_note_an_edit_left_selected(qtbot, window, tmp_path):
    # Fix a note in bar 1 (a right click and a new note: the new one is left selected), leave
    # the playhead at the start and Continue: the whole tune is the seed and the take comes
    # after its end, not after the corrected note, over the melody.
    score = load_seed(window, tmp_path)
    end = score.end_tick
    window.set_playhead(0)
    first = score.notes[0]
    window.editor.view.set_selection(())
    from composer_app.core.edits import ReplaceNotes

    window.document.push(ReplaceNotes((first,), (first.moved(0, 2),), "Fix a note"))
    window.document.push(ReplaceNotes((first.moved(0, 2),), (first,), "Fix it back"))
    assert window.document.selection == {first}  # the edit left it selected
    assert run_continuation(qtbot, window, steps=4)
    assert window.continuation._start_tick >= end
    assert min(n.start_tick for n in window.document.generated_notes) >= end
    window.continuation.discard()
    # notes the user selects are a region: the take goes on right after them (in the tune)
    chosen = score.notes[:4]
    window.editor.view.set_selection(chosen)
    assert run_continuation(qtbot, window, steps=4)
    after_chosen = max(n.end_tick for n in chosen)
    assert after_chosen <= window.continuation._start_tick < after_chosen + score.ppq // 2


def test_continuation_accept_then_continue_goes_on_after_the_take(qtbot, window, tmp_path):
    # A region dragged on the ruler, a take accepted: Continue again must go on after the
    # accepted take (as the guide says), not generate again over it from the region's end.
    score = load_seed(window, tmp_path)
    step = score.ppq // 2
    window.editor.set_region(0, 16 * step)
    assert run_continuation(qtbot, window, steps=8, seed_value=3)
    take = window.document.generated_notes
    take_end = max(n.end_tick for n in take)
    window.playback.stop()
    qtbot.waitUntil(lambda: not window.playback.is_playing, timeout=5000)
    window.continuation.accept()
    assert window.editor.region() is None and window.playhead_tick == take_end
    assert run_continuation(qtbot, window, steps=8, seed_value=3)
    assert min(n.start_tick for n in window.document.generated_notes) >= take_end


def test_continuation_variation_plays_from_where_the_take_begins(qtbot, window, tmp_path):
    # Picking variation 2 in the list played the song from bar 1 instead of the take.
    load_seed(window, tmp_path)
    window.continuation.panel.variations_spin.setValue(2)
    assert run_continuation(qtbot, window, steps=4)
    played: list[int] = []
    real_play = window.playback.play
    window.playback.play = lambda score, start_tick=0: (  # type: ignore[method-assign]
        played.append(start_tick), real_play(score, start_tick))
    window.continuation.select_variation(1)
    assert played == [window.continuation._start_tick]
    assert played[0] > 0


def test_continuation_accompany_region_ending_inside_a_step_is_covered(qtbot, window, tmp_path):
    # A region that ends half-way through a step: the last half step is accompanied too.
    score = load_seed(window, tmp_path)
    step = score.ppq // 2
    start = -(-score.end_tick // step) * step
    window.editor.set_region(start, start + 3 * step + step // 2)
    window.continuation.panel.accompany_check.setChecked(True)
    assert run_continuation(qtbot, window, steps=16)  # the region sets the length
    assert window.continuation._take_end_tick == start + 4 * step


def test_continuation_of_a_model_above_midi_21_sounds_the_notes_it_draws(
    qtbot, tmp_path, monkeypatch
):
    # A checkpoint covering MIDI 36-95: frame column k is pitch 36 + k. The stream played
    # column k as 21 + k, 15 semitones below every note drawn.
    import torch

    from composer_app.ml.checkpoint import save_checkpoint
    from composer_app.ml.rnnrbm import RnnRbm, RnnRbmConfig
    from tests.gui.test_main_window import record_sent

    config = RnnRbmConfig(n_visible=60, n_hidden=16, n_recurrent=8, pitch_low=36,
                          pitch_high=96, key_normalization="none", sampling_steps=2)
    model = RnnRbm(config, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.bv.fill_(-2.0)  # a few notes a step, not half the keyboard
    save_checkpoint(tmp_path / "low36", config, model)
    w = thread_player_window(qtbot, tmp_path, monkeypatch)
    try:
        with qtbot.waitSignal(w.continuation.model_loaded, timeout=60_000):
            w.continuation.load_model(str(tmp_path / "low36"))
        score = load_seed(w, tmp_path)
        sent = record_sent(w)
        assert run_continuation(qtbot, w, steps=16)
        qtbot.waitUntil(lambda: not w.playback.is_playing, timeout=30_000)
        drawn = sorted(n.pitch for n in w.document.generated_notes)
        assert drawn and min(drawn) >= 36
        seed_end = score.end_tick  # the seed's notes are not heard: it starts after them
        heard = sorted(m[1] for m in sent if m[0] & 0xF0 == 0x90 and m[2] > 0)
        assert heard == drawn, f"heard {heard}, drawn {drawn} (seed ends at {seed_end})"
    finally:
        w.shutdown()
        w.close()
        w.deleteLater()


def test_continuation_escape_stops_a_take_still_sounding_after_its_generation(
    qtbot, window, tmp_path
):
    # The worker runs ahead of the playhead: the take plays on after its last step is made,
    # and Escape (the guide: "Stop generating (and the sound)") did nothing then.
    load_seed(window, tmp_path, tempo_bpm=60.0)  # 8 eighth-note steps: 4 s of sound
    assert run_continuation(qtbot, window, steps=8)
    assert window.playback.is_playing  # generation is done, the take still sounds
    assert window.continuation.stop_action.isEnabled()
    window.activateWindow()
    QTest.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.playback.is_playing, timeout=2000)
    assert window.document.generated_notes  # the take stays pending
    assert not window.continuation.stop_action.isEnabled()  # Escape deselects again


def test_continuation_accepted_while_it_sounds_is_continued_after_its_end(
    qtbot, window, tmp_path
):
    # Accept is enabled once the last step is made, while the take still sounds (the worker
    # runs ahead of the playhead): the next Continue started inside the accepted take, over
    # its last bars, and the model never heard them.
    load_seed(window, tmp_path, tempo_bpm=60.0)  # 8 eighth-note steps: 4 s of sound
    assert run_continuation(qtbot, window, steps=8)
    take_end = max(n.end_tick for n in window.document.generated_notes)
    assert window.playback.is_streaming and window.playhead_tick < take_end
    window.continuation.accept()
    assert run_continuation(qtbot, window, steps=4)
    assert window.continuation._start_tick >= take_end
    assert min(n.start_tick for n in window.document.generated_notes) >= take_end


def test_continuation_refuses_settings_that_leave_no_note_and_keeps_the_take(
    qtbot, window, tmp_path
):
    # A scale with no note in the pitch range: the run drew silence for its whole length
    # (each empty step drawn again in vain), after discarding the pending take.
    reports: list[str] = []
    window.continuation.status_reported.connect(reports.append)
    load_seed(window, tmp_path)
    assert run_continuation(qtbot, window, steps=4, seed_value=1)
    take = window.document.generated_notes
    panel = window.continuation.panel
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData("major"))
    panel.key_combo.setCurrentIndex(panel.key_combo.findData(0))  # C
    panel.low_spin.setValue(61)
    panel.high_spin.setValue(61)  # C#4 alone
    window.continuation.start()
    assert not window.continuation.is_running
    assert reports[-1] == (
        "Nothing to generate: no note of C major lies in 61-61 (C#4). Widen the pitch range, "
        "or choose another scale or key."
    )
    assert window.document.generated_notes == take  # still pending
    panel.high_spin.setValue(62)  # D4 is in C major: it runs
    assert run_continuation(qtbot, window, steps=4, seed_value=1)
    assert {n.pitch for n in window.document.generated_notes} <= {62}


def test_continuation_again_after_a_mid_song_take_was_heard_past_its_end_retakes_it(
    qtbot, window, tmp_path
):
    # A take in the middle of the song plays on with the user's later notes, so its
    # playback leaves the playhead past the take: Continue again then accepted the take
    # unasked and went on after the song. It is a new take from where the first began.
    score = load_seed(window, tmp_path, tempo_bpm=1000.0)
    middle = sorted(n.start_tick for n in score.notes)[len(score) // 2]
    window.set_playhead(middle)
    assert run_continuation(qtbot, window, steps=4, seed_value=3)
    first_start = window.continuation._start_tick
    qtbot.waitUntil(
        lambda: not window.playback.is_playing and not window.playback.is_streaming,
        timeout=30_000,
    )
    assert window.playhead_tick > window.continuation._take_end_tick  # left past the take
    steps = window.document.undo_stack.count()
    assert run_continuation(qtbot, window, steps=4, seed_value=3)
    assert window.document.undo_stack.count() == steps  # nothing accepted
    assert window.continuation._start_tick == first_start


def test_continuation_on_the_seeds_key_is_not_refused_for_a_narrow_range(
    qtbot, window, tmp_path
):
    # The check before a run judged "the seed's key" from other notes than the run's seed
    # (here none before the playhead: C) and refused a range the seed's D major fills.
    reports: list[str] = []
    window.continuation.status_reported.connect(reports.append)
    d_major = [62, 66, 69, 74, 73, 71, 69, 66]
    score = Score()
    score.add_many(Note(1920 + i * 240, p, 240, 90) for i, p in enumerate(d_major * 2))
    path = tmp_path / "melody.mid"
    write_mid(score, path)
    assert window.open_file(str(path), ask_to_save=False)
    window.set_playhead(1920)
    panel = window.continuation.panel
    panel.accompany_check.setChecked(True)
    panel.set_length(2, "bars")
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData("major"))  # seed's key
    panel.low_spin.setValue(61)
    panel.high_spin.setValue(61)  # C#4: in D major, not in C major
    assert run_continuation(qtbot, window, steps=16, seed_value=1)
    assert not any(r.startswith("Nothing to generate") for r in reports), reports


def test_continuation_moves_the_seed_by_the_key_signature_in_force(
    qtbot, window, tmp_path, monkeypatch
):
    # the file's (or the user's) key signature is the key the seed is moved into C by, where
    # its notes fit it, as the model's training tunes were moved
    from composer_app.core.score import KeySignature

    reports: list[str] = []
    window.continuation.status_reported.connect(reports.append)
    requests = []
    generation = window.continuation._generation
    run = generation.request_run
    generation.request_run = lambda request: requests.append(request) or run(request)
    import composer_app.ml.continuation as continuation_module

    shifts: list[int] = []
    built = continuation_module.Continuation.__post_init__

    def recording(self) -> None:  # what the worker's Continuation moved the seed by
        built(self)
        shifts.append(self.shift)

    monkeypatch.setattr(continuation_module.Continuation, "__post_init__", recording)
    score = Score(key_signatures=[KeySignature(0, 1), KeySignature(7680, 3)])
    mixolydian = [62, 66, 69, 72, 74, 72, 69, 66, 62, 64, 66, 67, 69, 72, 69, 62]
    score.add_many(Note(i * 240, p, 240, 90) for i, p in enumerate(mixolydian))
    path = tmp_path / "mixolydian.mid"
    write_mid(score, path)
    assert window.open_file(str(path), ask_to_save=False)
    window.set_playhead(window.document.score.end_tick)  # 3840: in the first signature
    assert run_continuation(qtbot, window, steps=4, seed_value=1)
    assert requests[-1].key_signature == KeySignature(0, 1)  # the one in force at the seed's end
    assert shifts and shifts[-1] % 12 == 5  # moved as G major (G up to C), not as D (10)
    assert any(r.startswith("Generating in D major") for r in reports), reports  # the music's


def test_continuation_says_when_the_output_is_gone(qtbot, window, tmp_path, monkeypatch):
    # a synth that quit is looked for just after the run starts: its messages say so
    reports: list[str] = []
    window.continuation.status_reported.connect(reports.append)
    load_seed(window, tmp_path)

    # an output that was open (the synth behind it has quit since)
    monkeypatch.setattr(type(window.playback), "port", property(lambda _self: "Synth"))
    looked: list[bool] = []
    monkeypatch.setattr(window, "check_midi_output", lambda: looked.append(True) or False)
    window.continuation.panel.set_length(64, "bars")
    window.continuation.start()
    qtbot.waitUntil(lambda: bool(looked), timeout=5000)
    assert reports[-1].startswith("Generating silently (the MIDI output is gone: start the synth "
                                  "again, then Transport ▸ Reconnect MIDI Output)")
    window.continuation.stop()
    qtbot.waitUntil(lambda: not window.continuation.is_running, timeout=10_000)


def test_continuation_keeps_a_take_the_user_went_past_with_end(qtbot, window, tmp_path):
    # Go to End past a pending mid-song take, then Continue: the take was thrown away unasked
    # (no undo step) and a new one began after the song. The user put the playhead after it:
    # it is kept, as an undo step of its own.
    score = load_seed(window, tmp_path)
    middle = sorted(n.start_tick for n in score.notes)[len(score) // 2]
    window.set_playhead(middle)
    assert run_continuation(qtbot, window, steps=4, seed_value=3)
    take = window.document.generated_notes
    window.playback.stop()
    qtbot.waitUntil(lambda: not window.playback.is_playing, timeout=5000)
    window.go_to_end()
    assert window.playhead_tick > window.continuation._take_end_tick
    steps = window.document.undo_stack.count()
    assert run_continuation(qtbot, window, steps=4, seed_value=3)
    assert window.document.undo_stack.count() == steps + 1
    kept = [n for n in window.document.score.notes if not n.generated]
    assert all(n.accepted() in kept for n in take)


def test_continuation_no_pitch_check_judges_the_seeds_own_key(qtbot, window, tmp_path):
    # A scale on the seed's key with a range of one note outside it: nothing can sound. The
    # check refused only what no key allowed: the pending take was thrown away and a silent
    # run began. It judges the key of the seed the run hears, and keeps the take.
    from composer_app.core.keys import PITCH_CLASS_NAMES

    reports: list[str] = []
    window.continuation.status_reported.connect(reports.append)
    score = load_seed(window, tmp_path)
    tonic = estimate_key(score.notes).tonic
    off_scale = 60 + (tonic + 1) % 12  # the flat second above the seed's tonic, octave 4
    assert run_continuation(qtbot, window, steps=4, seed_value=1)
    take = window.document.generated_notes
    panel = window.continuation.panel
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData("major"))
    assert panel.key_combo.currentData() is None  # the seed's key
    panel.low_spin.setValue(off_scale)
    panel.high_spin.setValue(off_scale)
    window.continuation.start()
    assert not window.continuation.is_running
    assert reports[-1].startswith(
        f"Nothing to generate: no note of {PITCH_CLASS_NAMES[tonic]} major (the seed's key)"
    )
    assert window.document.generated_notes == take


def test_continuation_goes_on_unheard_when_reconnect_replaces_the_player(
    qtbot, window, tmp_path
):
    # Reconnect MIDI Output during a live take closed the player the run was pacing itself
    # by: "Continuation failed" and the run ended. It goes on drawing.
    failures: list[str] = []
    window.continuation._generation.worker.failed.connect(failures.append)
    load_seed(window, tmp_path, tempo_bpm=120.0)
    controller = window.continuation
    controller.panel.set_length(16, "bars")
    controller.start()
    qtbot.waitUntil(lambda: len(controller._frames) >= 18, timeout=20_000)
    qtbot.wait(200)  # the run waits in its lookahead, reading the player's position
    window.reconnect_midi_output()
    count = len(controller._frames)
    qtbot.waitUntil(lambda: len(controller._frames) > count + 8, timeout=20_000)
    assert controller.is_running and failures == []
    controller.stop()
    qtbot.waitUntil(lambda: not controller.is_running, timeout=10_000)


def assert_continue_keeps_the_take(qtbot, window, take: list[Note], not_before: int) -> None:
    """Continue keeps the pending ``take`` (as an undo step of its own, its notes in the
    score) and goes on from ``not_before`` or later (ticks)."""
    steps = window.document.undo_stack.count()
    assert run_continuation(qtbot, window, steps=4, seed_value=3)
    assert window.document.undo_stack.count() == steps + 1  # the take kept
    assert window.continuation._start_tick >= not_before
    kept = [n for n in window.document.score.notes if not n.generated]
    assert all(n.accepted() in kept for n in take)


def test_continuation_keeps_a_take_after_a_playback_begun_past_it(qtbot, window, tmp_path):
    # A ruler click after a pending take, Play and Stop there, then Continue: any playback's
    # stop counted as the take's own, and the take was retaken from its start.
    score = load_seed(window, tmp_path, tempo_bpm=120.0)
    middle = sorted(n.start_tick for n in score.notes)[len(score) // 2]
    from composer_app.core.edits import add_notes

    # a late note, so that there is music to play after the take whatever the seed
    window.document.push(add_notes([Note(score.end_tick + 16 * score.ppq, 60, score.ppq)]))
    window.set_playhead(middle)
    assert run_continuation(qtbot, window, steps=4, seed_value=3)
    take = window.document.generated_notes
    window.playback.stop()
    qtbot.waitUntil(lambda: not window.playback.is_playing, timeout=5000)
    after = window.continuation._take_end_tick + 4 * score.ppq
    assert after < window.document.score.end_tick
    window.editor.ruler.playhead_requested.emit(after)
    window.toggle_play()
    qtbot.waitUntil(lambda: window.playback.is_playing, timeout=5000)
    qtbot.wait(300)
    window.toggle_play()
    qtbot.waitUntil(lambda: not window.playback.is_playing, timeout=5000)
    assert_continue_keeps_the_take(qtbot, window, take, after)


def _heard_mid_song_take(qtbot, window, tmp_path) -> tuple[int, int]:
    """A 4-step take from the middle of the seed, heard to where its playback stops (past it:
    it plays the user's later notes on); its (start, end) ticks."""
    score = load_seed(window, tmp_path, tempo_bpm=1000.0)
    window.set_playhead(sorted(n.start_tick for n in score.notes)[len(score) // 2])
    assert run_continuation(qtbot, window, steps=4, seed_value=3)
    qtbot.waitUntil(
        lambda: not window.playback.is_playing and not window.playback.is_streaming,
        timeout=30_000,
    )
    return window.continuation._start_tick, window.continuation._take_end_tick


def test_continuation_retakes_again_after_a_retake_was_heard_past_its_end(
    qtbot, window, tmp_path
):
    # The retake's stream began while the window's playhead still lay past the take, so the
    # next Continue took its stop for the user's doing and kept the take.
    start, end = _heard_mid_song_take(qtbot, window, tmp_path)
    assert window.playhead_tick > end
    assert run_continuation(qtbot, window, steps=4, seed_value=4)
    assert window.continuation._start_tick == start  # retaken
    qtbot.waitUntil(
        lambda: not window.playback.is_playing and not window.playback.is_streaming,
        timeout=30_000,
    )
    steps = window.document.undo_stack.count()
    assert run_continuation(qtbot, window, steps=4, seed_value=5)
    assert window.continuation._start_tick == start  # retaken again
    assert window.document.undo_stack.count() == steps


def test_continuation_keeps_a_take_after_a_ruler_click_past_it_while_it_plays(
    qtbot, window, tmp_path
):
    # Play the take from its start, click the ruler past it while it plays, Stop: the stop
    # counted as the take's own playback's, and the take was retaken.
    start, end = _heard_mid_song_take(qtbot, window, tmp_path)
    window.editor.ruler.playhead_requested.emit(start)
    window.toggle_play()
    qtbot.waitUntil(lambda: window.playback.is_playing, timeout=5000)
    after = end + 2 * window.document.score.ppq
    window.editor.ruler.playhead_requested.emit(after)
    window.toggle_play()
    qtbot.waitUntil(lambda: not window.playback.is_playing, timeout=5000)
    assert_continue_keeps_the_take(qtbot, window, window.document.generated_notes, end)


def test_continuation_plays_the_songs_settings_within_its_span(qtbot, tmp_path, monkeypatch):
    # A live take played none of the song's settings inside its span (an instrument change,
    # a synth's setup), so it sounded otherwise once accepted, when Play sends them.
    from composer_app.core.score import ProgramChange, SystemExclusive
    from tests.gui.test_main_window import record_sent

    w = thread_player_window(qtbot, tmp_path, monkeypatch)
    try:
        with qtbot.waitSignal(w.continuation.model_loaded, timeout=60_000):
            w.continuation.load_model(str(MODEL_DIR))
        score = load_seed(w, tmp_path)
        within = score.end_tick + 480  # two eighth-note steps into the take
        reset = bytes((0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7))
        score.program_changes = [ProgramChange(0, 0, 40), ProgramChange(within, 0, 41)]
        score.system_exclusive = [SystemExclusive(within, reset)]
        sent = record_sent(w)
        assert run_continuation(qtbot, w, steps=16)
        qtbot.waitUntil(lambda: not w.playback.is_playing, timeout=30_000)
        settings_sent = [m for m in sent if m[0] in (0xC0, 0xF0)]
        # the instrument in force where it starts, then the reset and the change in its turn
        assert settings_sent == [(0xC0, 40), tuple(reset), (0xC0, 41)]
    finally:
        w.shutdown()
        w.close()
        w.deleteLater()
