"""Self-supervised speech front ends (wav2vec 2.0 / XLSR, HuBERT, WavLM) built with Hugging Face
`transformers` from a local checkpoint, and the fairseq checkpoint converter (docs/ssl.md).

Importing this package imports neither torch nor transformers; the names below load
pylib.models.ssl.frontend when first used.
"""

__all__ = ["SSLFrontend", "SSLFrontendConfig", "build_ssl_frontend"]


def __getattr__(name):
    if name in __all__:
        from pylib.models.ssl import frontend

        return getattr(frontend, name)
    raise AttributeError(f"module 'pylib.models.ssl' has no attribute {name!r}")
