"""User-facing errors. The CLI prints ``str(error)`` on one line and exits with status 2."""


class MicroflowError(Exception):
    """Base class of every error a user can cause (bad input, bad parameters, bad output path)."""


class InputError(MicroflowError):
    """An input raster is missing, unreadable, corrupt or inconsistent with its partner."""


class ParameterError(MicroflowError, ValueError):
    """A parameter is out of its valid range."""


class OutputError(MicroflowError):
    """The output cannot be written where asked."""


class MicroflowWarning(UserWarning):
    """Something is probably wrong but the run goes on (the CLI prints it as one ``microflow: warning:`` line)."""


def run_tool(name: str, action, errors: tuple[type[BaseException], ...] = (MicroflowError,)) -> int:
    """Exit status of a repository script: ``action()`` prints what it wrote and returns 0; one of
    ``errors`` prints ``NAME: error: ...`` on one line and returns 2."""
    import sys

    try:
        action()
    except errors as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    return 0
