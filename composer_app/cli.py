"""Command line: ``composer-app [gui|info|train|evaluate|generate|ports] ...``.

Each subcommand's arguments and work live beside the code they drive; this module only
dispatches, so importing it pulls in neither Qt nor torch.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import os
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

# subcommand -> (module, function adding its arguments, function running it, one-line help)
_SUBCOMMANDS: dict[str, tuple[str, str, str, str]] = {
    "gui": ("composer_app.app", "add_arguments", "run", "open the piano-roll editor (default)"),
    "info": ("composer_app.midi.info", "add_arguments", "run", "describe a MIDI file"),
    "train": ("composer_app.ml.train", "add_arguments", "run", "train an RNN-RBM"),
    "evaluate": ("composer_app.ml.evaluate", "add_arguments", "run", "evaluate a model (ACC, LL)"),
    "generate": ("composer_app.headless", "add_arguments", "run", "continue a MIDI file headlessly"),
    "ports": ("composer_app.midi.ports", "add_arguments", "run", "list MIDI output ports"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only ``command``'s module is imported to add its arguments.

    Importing a subcommand's module can be slow (``train`` pulls in torch), so ``info`` and
    ``--help`` never pay for the others.
    """
    parser = argparse.ArgumentParser(
        prog="composer-app",
        description="Composer: sketch a melody, let the RNN-RBM continue it. Without a "
        "subcommand (or with a MIDI file), opens the editor.",
    )
    sub = parser.add_subparsers(dest="command")
    for name, (module_name, add_name, _run, help_text) in _SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text)
        if name == command:
            add_arguments: Callable[[argparse.ArgumentParser], None] = getattr(
                import_module(module_name), add_name
            )
            add_arguments(sp)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``composer-app`` script. Returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in _SUBCOMMANDS and not argv[0].startswith("-"):
        problem = _unknown_command(argv[0])
        if problem is not None:
            print(f"composer-app: {problem}", file=sys.stderr)
            return 2
    if not argv or (argv[0] not in _SUBCOMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["gui", *argv]  # no command, the editor's options, or a file to open in it
    args = build_parser(argv[0]).parse_args(argv)
    module_name, _add, run_name, _help = _SUBCOMMANDS[args.command]
    run: Callable[[argparse.Namespace], int] = getattr(import_module(module_name), run_name)
    if args.command == "train":
        # ml never imports midi; the MIDI-folder reader is handed to it here.
        from composer_app.midi.files import read_mid

        args.read_score = read_mid
    if args.command == "evaluate":
        # ml never imports paths; shipped models are found by name through it
        from composer_app.paths import model_dir

        args.shipped_model_dir = model_dir
    status = 0
    try:
        status = int(run(args) or 0)
        # a full or closed stdout fails here, where it is caught, not in the flush at exit
        sys.stdout.flush()
        return status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`composer-app info x.mid | head`): not an error worth a traceback
        _silence_broken_streams()
        return status  # 0, unless the command had already failed
    except OSError as exc:
        # e.g. stdout on a full disk or /dev/full: one line, if stderr still takes it
        broken = _silence_broken_streams()
        if exc.filename is not None:
            message = f"{exc.filename}: {exc.strerror or exc}"
        elif exc.errno in _OUTPUT_ERRNOS:  # a write to a stream: stdout, or stderr itself
            message = f"cannot write the output: {exc.strerror or exc}"
        else:  # a failure of some other kind: named as the system names it
            message = f"system error: {exc.strerror or exc}"
        if "stderr" not in broken:
            try:
                print(f"composer-app {args.command}: {message}", file=sys.stderr, flush=True)
            except (OSError, ValueError):
                _silence_broken_streams()
        return 2


# what the editor opens when named as the first word, whether or not the file exists yet
_EDITOR_SUFFIXES = (".mid", ".midi", ".rmi")


def _unknown_command(word: str) -> str | None:
    """Why the first word ``word``, which is no subcommand, is not a file to open in the editor
    either (one line), or None when it is one: a path that exists, or a MIDI name."""
    if os.path.exists(word) or word.lower().endswith(_EDITOR_SUFFIXES):
        return None
    close = difflib.get_close_matches(word, _SUBCOMMANDS, n=1)
    if close:
        return f"unknown command {word!r} (did you mean {close[0]!r}?)"
    return (
        f"unknown command {word!r} (commands: {', '.join(_SUBCOMMANDS)}; or name a MIDI "
        "file to open in the editor)"
    )


# errno values of a failed write to a stream (a full disk or quota, a closed or bad descriptor,
# an I/O error, a file too large, a full non-blocking pipe, a socket gone); any other OSError
# without a file name is not "the output"
_OUTPUT_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EDQUOT", "EPIPE", "EBADF", "EIO", "EFBIG", "EAGAIN", "ECONNRESET",
                 "ENOTCONN")
    if hasattr(errno, name)
)


def _silence_broken_streams() -> set[str]:
    """Point stdout and stderr at the null device where they can no longer be written.

    Returns the names of the broken streams. Output still in their buffers then goes
    nowhere, so the flush at interpreter exit cannot fail a second time with a traceback.
    """
    broken: set[str] = set()
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        try:
            stream.flush()
        except (OSError, ValueError):
            broken.add(name)
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                try:
                    os.dup2(devnull, stream.fileno())
                finally:
                    os.close(devnull)
            except (OSError, ValueError):
                pass  # not a real file descriptor (a test's capture): nothing to redirect
    return broken
