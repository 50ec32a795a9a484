"""nnsp: neural speech waveform models and spoofing countermeasures."""

__version__ = "0.1.0"


def load_model(path, device="cpu", model_class=None):
    """Load a one-file model written by `python -m pylib.bin.export_model`; returns it in eval mode.

    model_class: name -> model class; default nnsp's catalogue (`pylib.models.catalogue`), whose
    "package.module:Class" names also reach models defined outside nnsp."""
    from pylib.engine.export import load_model as _load

    if model_class is None:
        from pylib.models.catalogue import get_model_class as model_class

    return _load(path, model_class, device=device)
