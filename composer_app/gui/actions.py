"""The main window's actions (with their shortcuts), menus and toolbar.

Actions are built here and connected by the window; keeping them in one table makes the
shortcuts easy to review and to test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QAbstractSpinBox, QMainWindow, QMenu, QMenuBar, QToolBar, QWidget

# Grid choices: note value 1/n of a whole note.
GRID_DENOMINATORS: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
DEFAULT_GRID_DENOMINATOR = 16
TOOLS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("draw", "&Draw", ("D", "1")),
    ("select", "&Select", ("S", "2")),
    ("erase", "&Erase", ("E", "3")),
)


class ControlKeysFilter(QObject):
    """Keeps plain keys with the control that has the focus, against the window's one-key
    shortcuts (D, S, E, digits, Q, T, Space, Delete, Backspace, Home), where that control uses
    them:
    Space presses a button or ticks a check box, letters search a drop-down list, Delete and
    Backspace stay with it (they deleted the roll's selected notes). In a number box, which
    has no use for it, Space plays, as everywhere (a value typed there applies first), and
    the undo and redo keys undo and redo the score, not the box's text (after arrow clicks in
    the tempo box the focus stays there, and Ctrl+Z did nothing to the tempo). Install it
    with :meth:`watch`.
    """

    _CONTROL_KEYS = frozenset(
        {Qt.Key.Key_Space, Qt.Key.Key_Backspace, Qt.Key.Key_Delete, Qt.Key.Key_Home,
         Qt.Key.Key_End}
        | {Qt.Key(k) for k in range(Qt.Key.Key_0, Qt.Key.Key_9 + 1)}
        | {Qt.Key(k) for k in range(Qt.Key.Key_A, Qt.Key.Key_Z + 1)}
    )
    _CHORD = (
        Qt.KeyboardModifier.ControlModifier
        | Qt.KeyboardModifier.AltModifier
        | Qt.KeyboardModifier.MetaModifier
    )

    def watch(self, *widgets: QWidget) -> None:
        """Filter the keys of ``widgets`` and of every widget inside them."""
        for widget in widgets:
            for child in (widget, *widget.findChildren(QWidget)):
                child.installEventFilter(self)

    # the keys of the window's Undo and Redo (see build_actions)
    _UNDO_REDO = frozenset(
        QKeySequence(keys)[0].toCombined() for keys in ("Ctrl+Z", "Ctrl+Shift+Z", "Ctrl+Y")
    )

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() != QEvent.Type.ShortcutOverride:
            return False
        assert isinstance(event, QKeyEvent)
        if (
            isinstance(watched, QAbstractSpinBox)
            and event.keyCombination().toCombined() in self._UNDO_REDO
        ):
            event.ignore()  # the window's Undo and Redo take them
            return True
        if event.modifiers() & self._CHORD or Qt.Key(event.key()) not in self._CONTROL_KEYS:
            return False  # chords (Ctrl+Enter, ...) and Esc stay the window's
        if isinstance(watched, QAbstractSpinBox):
            if event.key() == Qt.Key.Key_Space:
                watched.interpretText()  # a value typed and not yet entered applies first
                event.ignore()  # not the box's: the Play shortcut takes it
                return True
            return False  # digits, letters, Home, End: the box's own handling
        event.accept()  # the control's: delivered to it as a key press
        return True


def grid_ticks(denominator: int, ppq: int) -> int:
    """Length of a 1/``denominator`` note (the editor makes triplets of it). Units: ticks."""
    return ppq * 4 // denominator


@dataclass
class WindowActions:
    """Every action of the main window, by role."""

    new: QAction
    open: QAction
    save: QAction
    save_as: QAction
    preferences: QAction
    quit: QAction
    undo: QAction
    redo: QAction
    cut: QAction
    copy: QAction
    paste: QAction
    duplicate: QAction
    select_all: QAction
    delete: QAction
    quantize: QAction
    time_signature: QAction
    key_signature: QAction
    tempo_change: QAction
    zoom_to_fit: QAction
    zoom_in: QAction
    zoom_out: QAction
    play: QAction
    home: QAction
    end: QAction
    follow: QAction
    loop: QAction
    panic: QAction
    reconnect: QAction
    grid_triplet: QAction
    tools: dict[str, QAction] = field(default_factory=dict)
    grids: dict[int, QAction] = field(default_factory=dict)
    tool_group: QActionGroup | None = None
    grid_group: QActionGroup | None = None


def _action(
    parent: QMainWindow,
    text: str,
    shortcuts: tuple[QKeySequence | str | QKeySequence.StandardKey, ...] = (),
    tip: str = "",
    name: str = "",
) -> QAction:
    action = QAction(text, parent)
    if shortcuts:
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    if name:
        action.setObjectName(name)
    parent.addAction(action)  # shortcuts work even while the menu bar is hidden
    return action


def build_actions(window: QMainWindow, undo: QAction, redo: QAction) -> WindowActions:
    """Create the actions; ``undo`` and ``redo`` come from the document's undo stack."""
    undo.setShortcuts([QKeySequence("Ctrl+Z")])
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    undo.setObjectName("undo")
    redo.setObjectName("redo")
    window.addAction(undo)
    window.addAction(redo)
    a = WindowActions(
        new=_action(window, "&New", ("Ctrl+N",), "Start an empty score", "new"),
        open=_action(window, "&Open / Import MIDI...", ("Ctrl+O",), "Open a .mid file", "open"),
        save=_action(window, "&Save", ("Ctrl+S",), "Save to the current file", "save"),
        save_as=_action(
            window, "Save &As / Export MIDI...", ("Ctrl+Shift+S",), "Save to a new file", "save_as"
        ),
        preferences=_action(window, "&Preferences...", ("Ctrl+,",), "MIDI output", "preferences"),
        quit=_action(window, "&Quit", ("Ctrl+Q",), "Quit Composer", "quit"),
        undo=undo,
        redo=redo,
        cut=_action(window, "Cu&t", ("Ctrl+X",), "Cut the selected notes", "cut"),
        copy=_action(window, "&Copy", ("Ctrl+C",), "Copy the selected notes", "copy"),
        paste=_action(window, "&Paste", ("Ctrl+V",), "Paste at the playhead", "paste"),
        duplicate=_action(
            window, "D&uplicate", ("Ctrl+D",), "Repeat the selection after itself", "duplicate"
        ),
        select_all=_action(window, "Select &All", ("Ctrl+A",), "Select every note", "select_all"),
        delete=_action(
            window, "&Delete", ("Del", "Backspace"), "Delete the selected notes", "delete"
        ),
        quantize=_action(
            window, "&Quantize", ("Q",),
            "Snap the selected notes (with none selected, all notes) to the grid", "quantize"
        ),
        time_signature=_action(
            window, "Time &Signature…", (),
            "Set the meter from the bar at the playhead on", "time_signature",
        ),
        key_signature=_action(
            window, "&Key Signature…", (),
            "Set the key signature from the bar at the playhead on", "key_signature",
        ),
        tempo_change=_action(
            window, "Tempo &Change…", (),
            "Change the tempo from the playhead (on the grid) on", "tempo_change",
        ),
        zoom_to_fit=_action(
            window, "Zoom to &Fit", ("Ctrl+0",), "Show the whole score", "zoom_to_fit"
        ),
        zoom_in=_action(window, "Zoom &In", ("Ctrl+=", "Ctrl++"), "Zoom in", "zoom_in"),
        zoom_out=_action(window, "Zoom &Out", ("Ctrl+-",), "Zoom out", "zoom_out"),
        play=_action(window, "Play", ("Space",), "Play / stop (Space)", "play"),
        home=_action(window, "|< Start", ("Home",), "Return to the start (Home)", "home"),
        end=_action(window, "End >|", ("End",), "Go to the end of the last note (End)", "end"),
        follow=_action(window, "Follow", (), "Keep the playhead in view while playing", "follow"),
        loop=_action(
            window, "Loop", ("L",),
            "Play the ruler region (or the whole song) over and over (L)", "loop",
        ),
        panic=_action(
            window, "Panic", ("Shift+Esc",), "Silence every note (Shift+Esc)", "panic"
        ),
        reconnect=_action(
            window, "Reconnect MIDI Output", (),
            "Open the MIDI output again (after the MIDI system, such as a JACK server, "
            "restarted)", "reconnect",
        ),
        grid_triplet=_action(window, "&Triplets", ("T",), "Triplet grid", "grid_triplet"),
    )
    a.open.setIconText("Open")
    a.save_as.setIconText("Save As")
    a.follow.setCheckable(True)
    a.follow.setChecked(True)
    a.loop.setCheckable(True)
    a.grid_triplet.setCheckable(True)
    a.tool_group = QActionGroup(window)
    for name, text, keys in TOOLS:
        tool = _action(window, text, keys, f"{text.replace('&', '')} tool ({keys[0]})", name)
        tool.setCheckable(True)
        tool.setData(name)
        a.tool_group.addAction(tool)
        a.tools[name] = tool
    a.tools["draw"].setChecked(True)
    a.grid_group = QActionGroup(window)
    for denominator in GRID_DENOMINATORS:
        grid = _action(window, f"1/{denominator}", (), f"Grid of 1/{denominator} notes", "")
        grid.setObjectName(f"grid_{denominator}")
        grid.setCheckable(True)
        grid.setData(denominator)
        a.grid_group.addAction(grid)
        a.grids[denominator] = grid
    a.grids[DEFAULT_GRID_DENOMINATOR].setChecked(True)
    return a


def build_menus(
    menu_bar: QMenuBar, a: WindowActions, recent_menu: QMenu, examples_menu: QMenu | None = None
) -> dict[str, QMenu]:
    """Fill the menu bar; ``recent_menu`` (filled by the window on show) and
    ``examples_menu`` go under File."""
    menus: dict[str, QMenu] = {}
    file_menu = menu_bar.addMenu("&File")
    file_menu.addActions([a.new, a.open])
    file_menu.addMenu(recent_menu)
    if examples_menu is not None:
        file_menu.addMenu(examples_menu)
    file_menu.addSeparator()
    file_menu.addActions([a.save, a.save_as])
    file_menu.addSeparator()
    file_menu.addAction(a.preferences)
    file_menu.addSeparator()
    file_menu.addAction(a.quit)
    menus["file"] = file_menu

    edit_menu = menu_bar.addMenu("&Edit")
    edit_menu.addActions([a.undo, a.redo])
    edit_menu.addSeparator()
    edit_menu.addActions([a.cut, a.copy, a.paste, a.duplicate, a.delete])
    edit_menu.addSeparator()
    edit_menu.addActions([a.select_all, a.quantize])
    edit_menu.addSeparator()
    edit_menu.addActions([a.time_signature, a.key_signature, a.tempo_change])
    menus["edit"] = edit_menu

    view_menu = menu_bar.addMenu("&View")
    view_menu.addActions([a.zoom_to_fit, a.zoom_in, a.zoom_out])
    menus["view"] = view_menu

    tools_menu = menu_bar.addMenu("&Tools")
    tools_menu.addActions(list(a.tools.values()))
    menus["tools"] = tools_menu

    grid_menu = menu_bar.addMenu("&Grid")
    grid_menu.addActions(list(a.grids.values()))
    grid_menu.addSeparator()
    grid_menu.addAction(a.grid_triplet)
    menus["grid"] = grid_menu

    transport_menu = menu_bar.addMenu("T&ransport")
    transport_menu.addActions([a.play, a.home, a.end, a.loop, a.follow, a.panic])
    transport_menu.addSeparator()
    transport_menu.addAction(a.reconnect)
    menus["transport"] = transport_menu
    return menus


def build_edit_toolbar(window: QMainWindow, a: WindowActions) -> QToolBar:
    """The toolbar with file, undo and tool buttons."""
    bar = QToolBar("Edit", window)
    bar.setObjectName("edit_toolbar")
    bar.addActions([a.new, a.open, a.save])
    bar.addSeparator()
    bar.addActions([a.undo, a.redo])
    bar.addSeparator()
    bar.addActions(list(a.tools.values()))
    bar.addSeparator()
    bar.addAction(a.quantize)
    bar.addAction(a.zoom_to_fit)
    return bar
