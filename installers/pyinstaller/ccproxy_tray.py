"""PyInstaller entry point of the `ccproxy-desktop` executable (the GUI script `ccproxy-desktop`)."""

import multiprocessing
import sys

from ccproxy_desktop.cli.main import tray_main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(tray_main())
