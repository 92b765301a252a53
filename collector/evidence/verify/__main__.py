"""``python -B -m verify PACKDIR``: verify a pack; exit 0 every check passed, 1 one failed, 2 unreadable."""

import sys

# A pack stays as it was signed: no __pycache__ inside it (set before the verifier's modules load).
sys.dont_write_bytecode = True

from .verifier import main  # noqa: E402

sys.exit(main())
