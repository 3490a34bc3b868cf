"""``composer-app generate``: continue a MIDI file without the GUI, with the app's engine.

It reads the seed with :func:`read_mid_report`, continues it with the same
:class:`~composer_app.ml.continuation.Continuation` the GUI uses (same quantization, key
handling and constraints) and writes seed + continuation atomically with :func:`write_mid`,
never over an existing file unless ``--force`` says so.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys

from composer_app import paths
from composer_app.ml.options import finite_number, whole_number

# How far after the seed's last bar --start-bar may lie (bars of rest before the continuation).
MAX_BARS_AFTER_SEED = 8
MIDI_SUFFIXES = (".mid", ".midi")

_TONICS = {name.lower(): i for i, name in enumerate(
    ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"))}
_TONICS.update({"db": 1, "d#": 3, "gb": 6, "g#": 8, "a#": 10})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the ``generate`` subcommand."""
    parser.add_argument("--seed", required=True, metavar="FILE.mid", help="the melody to continue")
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUT.mid",
        help="where to write (.mid is added unless the name ends in .mid or .midi); an "
        "existing file is replaced only with --force",
    )
    parser.add_argument(
        "--force", action="store_true",
        help="replace an existing output file (the seed itself included)",
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--bars", type=int, default=None, help="length in bars (default 8)")
    length.add_argument("--steps", type=int, default=None, help="length in model steps")
    parser.add_argument(
        "--model",
        default=paths.DEFAULT_MODEL_NAME,
        help="a shipped model name or a checkpoint folder (default: %(default)s)",
    )
    from composer_app.ml.generate import MAX_GIBBS_STEPS

    parser.add_argument(
        "--seed-value", type=whole_number(0), default=0, help="random seed, 0 or more (default 0)"
    )
    parser.add_argument(
        "--gibbs-steps",
        type=whole_number(1, MAX_GIBBS_STEPS),
        default=None,
        help="sampling steps per frame: Gibbs steps, or annealing temperatures for a model that "
        "anneals (default: the model's own, from its config)",
    )
    parser.add_argument(
        "--temperature",
        type=finite_number(0.0),
        default=1.0,
        help="sampling temperature, a finite number >= 0 (default 1)",
    )
    parser.add_argument("--key", default=None, help="tonic of the scale constraint, e.g. D or Bb")
    parser.add_argument(
        "--scale", default=None, help="only pitches of this scale (e.g. major, 'natural minor')"
    )
    parser.add_argument(
        "--low", type=whole_number(0, 127), default=21,
        help="lowest MIDI pitch the continuation may play (default 21, A0)",
    )
    parser.add_argument(
        "--high", type=whole_number(0, 127), default=108,
        help="highest MIDI pitch the continuation may play (default 108, C8)",
    )
    parser.add_argument("--max-notes", type=int, default=None, help="maximum notes per step")
    parser.add_argument(
        "--accompany",
        action="store_true",
        help="hold the file's notes from --start-bar on (default: bar 1, for as long as the "
        "file, unless --bars or --steps says otherwise) fixed and fill in around them",
    )
    parser.add_argument(
        "--harmony-anywhere",
        action="store_true",
        help="with --accompany, let the model play above the file's notes too (default: "
        "nothing above the top note sounding, as the folk tunes the models learned do)",
    )
    parser.add_argument(
        "--allow-rests",
        action="store_true",
        help="let steps with no note at all stand (default: such a step is drawn again)",
    )
    parser.add_argument(
        "--start-bar",
        type=int,
        default=None,
        help="start generating at this bar (1-based; default: right after the seed, or bar 1 "
        f"with --accompany; at most {MAX_BARS_AFTER_SEED} bars after the seed's last bar)",
    )


def output_problem(output: str) -> str | None:
    """Why the continuation cannot be written to ``output`` (one phrase), or None if it can.

    A folder is never written over, even with ``--force``, nor a device or a pipe; the folder
    the file goes in must exist (it is not created) and take new files. An existing file is
    no problem here: whether it may be replaced is ``--force``'s question.
    """
    from composer_app.midi.files import is_read_only

    target = os.path.realpath(output)  # a link is written through, to the file it names
    try:
        mode = os.stat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):  # not there yet, or under a file
        mode = None
    except OSError as exc:  # e.g. a folder without search permission
        return exc.strerror or str(exc)
    if mode is not None and stat.S_ISDIR(mode):
        return "it is a folder, not a file"
    if mode is not None and not stat.S_ISREG(mode):
        return "it is not a regular file (a device, pipe or socket)"
    if mode is not None and is_read_only(target):
        return "the file is read-only (permission denied)"  # as the save would find
    folder = os.path.dirname(target)
    shown = os.path.dirname(os.path.abspath(output))  # as the user named it, made absolute
    if not os.path.isdir(folder):
        if os.path.lexists(folder):
            return f"{shown} is not a folder"
        return f"the folder {shown} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"no permission to write in the folder {shown}"
    return None


def run(args: argparse.Namespace) -> int:
    """Continue ``--seed`` and write ``--output``. Exit status 0, or 2 on bad input."""
    from composer_app.core.keys import SCALES
    from composer_app.core.score import ScoreError
    from composer_app.midi.files import (
        MAX_LENGTH_QUARTERS,
        MidiFileError,
        read_mid_report,
        write_mid,
    )
    from composer_app.ml.checkpoint import CheckpointError
    from composer_app.ml.continuation import (
        Continuation,
        ContinuationSettings,
        load_model,
        plan_start,
        step_ticks_for,
    )
    from composer_app.ml.evaluate import resolve_model_dir
    from composer_app.ml.generate import GenerationError

    def fail(message: str) -> int:
        print(f"composer-app generate: {message}", file=sys.stderr)
        return 2

    key_tonic = None
    if args.key is not None:
        key_tonic = _TONICS.get(args.key.strip().lower())
        if key_tonic is None:
            return fail(f"unknown key {args.key!r}; use a note name such as C, F#, Bb")
    for flag, value in (("--bars", args.bars), ("--steps", args.steps),
                        ("--max-notes", args.max_notes), ("--gibbs-steps", args.gibbs_steps)):
        if value is not None and value < 1:
            return fail(f"{flag} must be at least 1, got {value}")
    if args.scale is not None and args.scale not in SCALES:
        return fail(f"unknown scale {args.scale!r}; choose one of: {', '.join(SCALES)}")
    if args.low > args.high:
        return fail(f"the pitch range is empty: --low {args.low} is above --high {args.high}")
    output = args.output if args.output.lower().endswith(MIDI_SUFFIXES) else args.output + ".mid"
    # checked now, not after loading the model and generating (which can take minutes)
    problem = output_problem(output)
    if problem is not None:
        return fail(f"cannot write {output}: {problem}")
    if os.path.lexists(output) and not args.force:
        what = ("the seed itself" if os.path.exists(output)
                and os.path.samefile(output, args.seed) else "a file")
        return fail(f"{output} is {what} that exists; give --force to replace it")
    try:
        score, report = read_mid_report(args.seed)
    except MidiFileError as exc:
        return fail(str(exc))
    model_dir = resolve_model_dir(args.model, paths.model_dir)
    if not model_dir.is_dir():
        return fail(
            f"no model {args.model!r}: not a folder, nor a shipped model (shipped: "
            f"{', '.join(paths.shipped_model_names()) or 'none'})"
        )
    try:
        model = load_model(str(model_dir), name=args.model)
    except CheckpointError as exc:
        return fail(f"cannot load the model {args.model!r} ({model_dir}): {exc}")
    except Exception as exc:  # a checkpoint is outside input: a message, never a traceback
        return fail(
            f"cannot load the model {args.model!r} ({model_dir}): {type(exc).__name__}: {exc}"
        )
    step_ticks = step_ticks_for(model.config, score.ppq)
    if args.start_bar is not None:
        if args.start_bar < 1:
            return fail("--start-bar counts from 1")
        # the bar (counted from 1) in which the seed's last note ends, or its last tempo or
        # meter change lies
        end = max(score.end_tick - 1, score.time_signatures[-1].tick, score.tempo_map[-1].tick)
        last_bar = len(score.bar_starts(score.bar_start_at(max(end, 0)) + 1))
        if args.start_bar > last_bar + MAX_BARS_AFTER_SEED:
            return fail(
                f"--start-bar {args.start_bar} is more than {MAX_BARS_AFTER_SEED} bars after "
                f"the seed, which ends in bar {last_bar}"
            )
        try:
            start_tick = score.bar_start(args.start_bar)
        except ScoreError as exc:
            return fail(f"--start-bar {args.start_bar}: {exc}")
    elif args.accompany:
        start_tick = 0  # the file's notes are the melody to accompany, from its first bar
    else:
        start_tick = score.end_tick
    # the model's steps are counted from the bar line, so they fall on its beats
    grid_origin = score.bar_start_at(start_tick)
    planned_start = plan_start(model.config, score.ppq, start_tick, grid_origin)
    if args.steps is not None:
        n_steps = args.steps
    elif args.accompany and args.bars is None and score.end_tick > planned_start:
        # as long as the melody it accompanies (as the window's Accompany with no region)
        n_steps = -(-(score.end_tick - planned_start) // step_ticks)
    else:  # bars of the meters in force, however they change
        bars = 8 if args.bars is None else args.bars
        try:
            bars_end = score.bars_later(planned_start, bars)
        except ScoreError as exc:
            return fail(f"--bars {bars}: {exc}")
        n_steps = max(1, -(-(bars_end - planned_start) // step_ticks))
    # Refused before generating: a longer song could be written but not read back.
    end_tick = planned_start + n_steps * step_ticks
    if end_tick > MAX_LENGTH_QUARTERS * score.ppq:
        return fail(
            f"the continuation would end at quarter note {end_tick // score.ppq}, past the "
            f"longest song a MIDI file may hold here ({MAX_LENGTH_QUARTERS} quarter notes)"
        )
    try:
        settings = ContinuationSettings(
            n_steps=n_steps,
            gibbs_steps=args.gibbs_steps,
            temperature=args.temperature,
            random_seed=args.seed_value,
            key_tonic=key_tonic,
            scale=args.scale if args.scale or key_tonic is None else "major",
            range_low=args.low,
            range_high=args.high,
            max_polyphony=args.max_notes,
            accompany=args.accompany,
            harmony_below=not args.harmony_anywhere,
            allow_rests=args.allow_rests,
        )
        continuation = Continuation(
            model, score.notes, score.ppq, start_tick, settings, grid_origin_tick=grid_origin,
            key_signature=score.key_signature_at(max(0, start_tick - 1)),
        )
        # refused before sampling: nothing could sound, and a step with no note could never
        # be drawn again into one with a note
        reason = continuation.no_pitch_allowed_reason(f"--low {args.low} --high {args.high}")
        if reason is not None:
            return fail(reason)
        for _ in continuation:
            pass
    except GenerationError as exc:
        return fail(str(exc))
    generated = [n.accepted() for n in continuation.generated_notes()]
    out = score.copy()
    out.add_many(generated)
    try:
        write_mid(out, output)
    except MidiFileError as exc:  # its message names only the file's base name
        return fail(f"cannot write {output}: {exc.reason}")
    key = continuation.key.name if continuation.key else "unknown"
    print(
        f"wrote {output}: {len(score)} seed notes + {len(generated)} generated notes, "
        f"{n_steps} steps of {step_ticks} ticks from tick {continuation.start_tick} "
        f"(seed key {key}, model {model.name})"
    )
    dropped = report.dropped_content_lines()
    if dropped:
        print(f"not kept from {args.seed}: {'; '.join(dropped)}")
    return 0
