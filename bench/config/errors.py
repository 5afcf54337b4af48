"""Errors meant for the user: the command line prints them as one line and exits with status 2.

Each names the file or field at fault and what is allowed, and is raised before anything is
written, so a refused command leaves no trace behind.
"""

from __future__ import annotations


class UserError(ValueError):
    """A problem with what the user gave (a config, an option, a run directory), not a bug."""

    exit_code = 2  # the command line's exit status for it


class ConfigError(UserError):
    """A configuration problem, stated for the user (field, value, what is allowed)."""


class RunDirError(UserError):
    """A run directory that holds no run, or whose files cannot be read (names the file)."""


class OutputPathError(UserError):
    """An output path (`--out` of report or plot) that cannot be written: the command exits 1,
    as for any failure to produce its output, with one line naming the path."""

    exit_code = 1


class DiskFull(UserError):
    """The disk filled up while a file was written (ENOSPC): named as such, nothing half-written
    kept, so the same command resumes once there is room."""
