"""Shared entry-point plumbing: user errors print one paragraph and exit 2; bugs keep their traceback."""

import logging
import sys
import textwrap

from pylib.errors import UserError


def run(main, argv=None):
    """Call `main(argv)` and exit with its code; UserError -> 'error: ...' on stderr and exit 2."""
    try:
        code = main(argv)
    except UserError as e:
        msg = textwrap.fill(str(e), width=100, break_long_words=False, break_on_hyphens=False)
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


def setup_logging(verbose=False):
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
