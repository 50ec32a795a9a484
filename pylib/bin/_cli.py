"""Shared entry-point plumbing: user errors print one paragraph and exit 2; bugs keep their traceback."""

import contextlib
import errno
import logging
import sys
import textwrap

from pylib.errors import ConfigError, UserError


def run(main, argv=None):
    """Call `main(argv)` and exit with its code; UserError -> 'error: ...' on stderr and exit 2."""
    try:
        code = main(argv)
    except UserError as e:
        msg = textwrap.fill(str(e), width=100, break_long_words=False, break_on_hyphens=False)
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = e.filename or "an output file"
        print(f"error: disk full while writing {where}; free space and rerun", file=sys.stderr)
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


@contextlib.contextmanager
def config_file(path):
    """Config errors raised inside name the recipe yaml `path` (a section key alone is not enough
    to find the file when a recipe has several configs)."""
    try:
        yield
    except ConfigError as e:
        if path is not None and str(path) not in str(e):
            raise ConfigError(f"{path}: {e}") from None
        raise
