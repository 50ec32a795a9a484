"""One entry point per recipe stage: `python -m pylib.bin.<stage> --help`."""
