"""nnsp: neural speech waveform models and spoofing countermeasures."""

__version__ = "0.1.0"


def load_model(path, device="cpu"):
    """Load a one-file model written by `python -m pylib.bin.export_model`; returns it in eval mode."""
    from pylib.engine.export import load_model as _load

    return _load(path, device=device)
