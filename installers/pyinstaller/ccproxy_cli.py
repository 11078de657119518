"""PyInstaller entry point of the `ccproxy` executable (the console script `ccproxy`)."""

import multiprocessing
import sys

from ccproxy_desktop.cli.main import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
