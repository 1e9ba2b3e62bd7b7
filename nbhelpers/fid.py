"""``python -m nbhelpers.fid``: the FID command line (``nbhelpers/metrics/__main__.py``)."""
import sys

from nbhelpers.metrics.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
