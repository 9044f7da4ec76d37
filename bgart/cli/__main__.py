"""``python -m bgart.cli`` (what ``accelerate launch … -m bgart.cli batch`` runs)."""

import sys

from bgart.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
