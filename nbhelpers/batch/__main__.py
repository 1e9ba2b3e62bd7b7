"""``python -m nbhelpers.batch``: the batch run behind ``./run_all.sh`` (``main``)."""
import sys

from nbhelpers.batch.main import main

if __name__ == "__main__":
    sys.exit(main())
