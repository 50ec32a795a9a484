"""A tiny randomly initialised SSL model (2 transformer layers of width 32) for toy recipes and
tests: the real architecture and frame shift (320 samples at 16 kHz), nothing pretrained."""

import torch

KINDS = ("wav2vec2", "hubert", "wavlm")


def tiny_config(kind="wav2vec2"):
    """The transformers config of the tiny model of `kind` (layer-norm-first, as XLSR)."""
    import transformers

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    cls = {
        "wav2vec2": transformers.Wav2Vec2Config,
        "hubert": transformers.HubertConfig,
        "wavlm": transformers.WavLMConfig,
    }[kind]
    return cls(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_bias=True,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        layerdrop=0.0,
        num_buckets=16,
        max_bucket_distance=64,
    )


def make_tiny_model(kind="wav2vec2", seed=0):
    """The tiny bare model of `kind`, its weights drawn from torch's generator seeded with `seed`."""
    import transformers

    config = tiny_config(kind)
    cls = {
        "wav2vec2": transformers.Wav2Vec2Model,
        "hubert": transformers.HubertModel,
        "wavlm": transformers.WavLMModel,
    }[kind]
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = cls(config)
    finally:
        torch.random.set_rng_state(state)
    return model.eval()
