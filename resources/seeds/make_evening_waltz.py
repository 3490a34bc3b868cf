"""Writes evening_waltz_Am.mid: an 8-bar A-minor waltz that states its minor third (full
A-minor triads, C in the melody), so the model hears A minor, not open fifths over E major.

Run: ``.venv/bin/python resources/seeds/make_evening_waltz.py resources/seeds/evening_waltz_Am.mid``
"""
import sys

from composer_app.core.note import Note
from composer_app.core.score import Score, TempoChange, TimeSignature
from composer_app.midi.files import write_mid

Q = 480
BAR = 3 * Q
chords = [  # (root in the bass, the chord above it): a dotted half per bar
    (45, [52, 57, 60]),  # Am: A2 | E3 A3 C4
    (45, [52, 57, 60]),  # Am
    (38, [53, 57, 62]),  # Dm: D2 | F3 A3 D4
    (40, [52, 56, 59]),  # E: E2 | E3 G#3 B3
    (45, [52, 57, 60]),  # Am
    (38, [53, 57, 62]),  # Dm
    (40, [52, 56, 62]),  # E7: E2 | E3 G#3 D4
    (45, [52, 57, 60]),  # Am
]
melody = [  # (pitch, quarters) per bar
    [(69, 1), (72, 1), (76, 1)],  # A4 C5 E5
    [(76, 2), (72, 1)],  # E5 . C5
    [(74, 1), (77, 1), (74, 1)],  # D5 F5 D5
    [(71, 2), (68, 1)],  # B4 . G#4
    [(72, 1), (71, 1), (69, 1)],  # C5 B4 A4
    [(65, 1), (69, 1), (74, 1)],  # F4 A4 D5
    [(71, 1), (68, 1), (64, 1)],  # B4 G#4 E4
    [(69, 3)],  # A4
]
score = Score(ppq=Q, tempo_map=[TempoChange.from_bpm(0, 96)],
              time_signatures=[TimeSignature(0, 3, 4)])
for bar, ((bass, chord), line) in enumerate(zip(chords, melody, strict=True)):
    start = bar * BAR
    score.add(Note(start, bass, BAR, 70, channel=1))
    for pitch in chord:
        score.add(Note(start + Q, pitch, 2 * Q, 64, channel=1))  # oom-pah-pah: on beats 2-3
    tick = start
    for pitch, quarters in line:
        score.add(Note(tick, pitch, quarters * Q, 96, channel=0))
        tick += quarters * Q
write_mid(score, sys.argv[1])
