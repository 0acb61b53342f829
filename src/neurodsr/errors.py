"""Exceptions with messages a user can act on.

Each names the session, the file, what is wrong and what to do.
"""

from __future__ import annotations

import os


class NeurodsrError(Exception):
    """Base class of every error neurodsr raises on purpose (the CLI prints them, no trace)."""


class InputError(NeurodsrError, ValueError):
    """Bad input data or parameters.

    Parameters
    ----------
    problem : str
        What is wrong, in words.
    file : path, optional
        The file the problem was found in.
    session : str, optional
        The session (pipeline run unit) the file belongs to.
    hint : str, optional
        What the user should do about it.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | os.PathLike[str] | None = None,
        session: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = None if file is None else os.fspath(file)
        self.session = session
        self.hint = hint
        parts = []
        if session:
            parts.append(f"session {session!r}")
        if self.file:
            parts.append(f"file {self.file!r}")
        where = f"[{', '.join(parts)}] " if parts else ""
        msg = f"{where}{problem}"
        if hint:
            msg += f" -- {hint}"
        super().__init__(msg)


class TrainingError(NeurodsrError, RuntimeError):
    """Training could not continue (e.g. repeated non-finite losses after lowering the rate)."""
