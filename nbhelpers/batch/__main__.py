"""``python -m nbhelpers.batch``: the batch run behind ``./run_all.sh`` (``main``). Ctrl-C while
its modules load (torch and the rest take seconds) ends it as Ctrl-C at any later moment does:
one line, exit status 130. A module cut short by it may leave the interpreter's own exit unsafe
(it can end the process by SIGINT after the line), so that exit is skipped."""
import os
import sys

if __name__ == "__main__":
    try:
        from nbhelpers.batch.main import main
    except KeyboardInterrupt:
        print("\ninterrupted: stopped before any run started", file=sys.stderr, flush=True)
        os._exit(130)
    sys.exit(main())
