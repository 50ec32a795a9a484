"""Self-supervised speech front ends (wav2vec 2.0 / XLSR, HuBERT, WavLM) built with Hugging Face
`transformers` from a local checkpoint, and the fairseq checkpoint converter (docs/ssl.md)."""

from pylib.models.ssl.frontend import SSLFrontend, SSLFrontendConfig, build_ssl_frontend

__all__ = ["SSLFrontend", "SSLFrontendConfig", "build_ssl_frontend"]
