"""`python -m ccproxy_desktop ...` is the `ccproxy` command."""

import sys

from .cli.main import main

sys.exit(main())
