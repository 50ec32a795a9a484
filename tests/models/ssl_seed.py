"""An nnsp ssl_cm (ff back end, fine-tuned front end) laid out as the seed's project-09 ID-2
`trained_network.pt`: fairseq key names for the SSL model, the seed's module names for the rest."""

import re

SEED_NAMES = {"proj.": "m_front_end.m_front_end_process.", "ff.": "m_back_end.m_frame_level.",
              "out.": "m_back_end.m_utt_level."}


def seed_state_dict(ref):
    """ref (an SslCM with a transformers front end) -> {seed key: tensor} of the seed's ID-2 model."""
    from pylib.models.ssl import fairseq as fq

    shapes = fq._target_shapes(ref.frontend.model.config)
    pos = "encoder.pos_conv_embed.conv."
    g, v = ("parametrizations.weight.original0", "parametrizations.weight.original1")
    if pos + g not in shapes:
        g, v = "weight_g", "weight_v"
    rules = [(re.compile(p), t.format(pos_g=pos + g, pos_v=pos + v)) for p, t in fq.RULES]
    sd = {}
    for k, t in ref.state_dict().items():
        if k.startswith("frontend.model."):
            name = fq.fairseq_name(k[len("frontend.model."):], rules)
            sd["m_front_end.ssl_model.model." + name] = t.clone()
        else:
            pre = next(p for p in SEED_NAMES if k.startswith(p))
            sd[SEED_NAMES[pre] + k[len(pre):]] = t.clone()
    return sd
