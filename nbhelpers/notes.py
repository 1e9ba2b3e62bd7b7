"""Notes a report shows once: ``ReportNote`` warnings become one "note: ..." line in a
notebook's output (not a stderr block), each text once per process."""
import warnings


class ReportNote(UserWarning):
    """A warning that a report shows once, as a one-line note in its output (not a stderr block)."""


def show_notes_once() -> None:
    """Show ``ReportNote`` warnings as "note: ..." lines on stdout, each text once per process;
    every other warning as before."""
    if getattr(warnings.showwarning, "shows_notes", False):
        return
    original, seen = warnings.showwarning, set()

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, ReportNote):
            return original(message, category, filename, lineno, file, line)
        if str(message) not in seen:
            seen.add(str(message))
            print(f"note: {message}")

    show.shows_notes = True
    warnings.showwarning = show
    warnings.simplefilter("always", ReportNote)    # every text reaches show(), which dedups
