"""What minicnn uses from Python versions newer than the oldest it supports (3.10)."""
import sys


def add_note(exc: BaseException, note: str) -> None:
    """``exc.add_note(note)`` (PEP 678, Python 3.11+: the note prints under the traceback). On
    Python 3.10 the note is only appended to ``exc.__notes__``, where 3.11 keeps it, since that
    version neither has the method nor prints notes."""
    if sys.version_info >= (3, 11):
        exc.add_note(note)
    else:
        notes = getattr(exc, "__notes__", None)
        if notes is None:
            notes = []
            setattr(exc, "__notes__", notes)  # an attribute 3.10's BaseException does not declare
        notes.append(note)


if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser before it joined the standard library (a dependency on 3.10 only)
    import tomli as tomllib

__all__ = ["add_note", "tomllib"]
