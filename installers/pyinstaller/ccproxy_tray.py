"""PyInstaller entry point of the `ccproxy-desktop` executable (the GUI script `ccproxy-desktop`)."""

import multiprocessing
import sys

from ccproxy_desktop.cli.main import tray_main
from ccproxy_desktop.frozen import run_module_if_asked

if __name__ == "__main__":
    multiprocessing.freeze_support()
    run_module_if_asked()  # the proxy server and the tray run as this executable: see frozen.py
    sys.exit(tray_main())
