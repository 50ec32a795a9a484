"""Supervised contrastive loss (Khosla et al., NeurIPS 2020), as the seed's project 09 uses it.

`supcon_loss(feat, labels)` takes feat (N, V, ...): N items, each seen in V views (the seed: an
utterance and its RawBoost copy), and pulls together every pair of rows that share a label while
pushing apart the others. It computes what the seed's `sandbox/util_loss_metric.py supcon_loss`
computes, with its options (`mask`, `sim`, `t` = 0.07, `mode` all|one, `length_norm`), with one
difference: an anchor with no positive (a label that occurs once, in one view) is left out of the
mean, where the seed divides 0 by 0 and returns NaN.

`group_supcon(emb, batch)` is the hook a countermeasure calls on a multi-view batch
(pylib.data.views): for each group (a source utterance with its vocoded copies and augmented
views), the loss over its rows with the labels the batch carries, averaged over groups, as the
seed's project 09 model does (`m_feat / batch size` times the loss of each utterance's group).
A model offers it through a config weight, e.g. LcnnConfig.supcon_weight.
"""

import torch
import torch.nn.functional as F


def _sequence_similarity(a, b):
    """Sequences (N, frames, D) x (M, frames, D) -> (N, M): the mean over frames of the frame dot
    products (the seed's project 09 `sim_metric_seq` for frame-level features)."""
    return torch.bmm(a.permute(1, 0, 2), b.permute(1, 2, 0)).mean(0)


def supcon_loss(feat, labels=None, mask=None, sim=None, t=0.07, mode="all", length_norm=False):
    """feat (N, V, D) or (N, V, frames, D) -> scalar loss.

    labels (N,): rows with equal labels are positives of each other; mask (N, N): positives given
    directly (mask[i, j] = 1 when j is a positive of anchor i); neither: each item's own views only.
    sim: (A, D...) x (C, D...) -> (A, C) similarity; default the dot product, or the mean frame
    dot product for 4-D feat ("sequence"). mode "all": every view is an anchor; "one": view 0 only.
    length_norm: L2-normalise the last dimension first.
    """
    if feat.dim() < 3:
        raise ValueError(f"supcon_loss: feat must be (items, views, ...), got shape {tuple(feat.shape)}")
    if labels is not None and mask is not None:
        raise ValueError("supcon_loss: give labels or mask, not both")
    if mode not in ("all", "one"):
        raise ValueError(f"supcon_loss: mode must be 'all' or 'one', got {mode!r}")
    if length_norm:
        feat = F.normalize(feat, dim=-1)
    n, views = feat.shape[0], feat.shape[1]
    if labels is not None:
        labels = labels.reshape(-1, 1)
        if labels.shape[0] != n:
            raise ValueError(f"supcon_loss: {labels.shape[0]} labels for {n} items")
        pos = (labels == labels.T).to(feat.dtype)
    elif mask is not None:
        pos = mask.to(device=feat.device, dtype=feat.dtype)
    else:
        pos = torch.eye(n, dtype=feat.dtype, device=feat.device)
    contrast = feat.transpose(0, 1).reshape(views * n, *feat.shape[2:])  # view-major rows
    anchors = contrast if mode == "all" else feat[:, 0]
    per = views if mode == "all" else 1
    if sim is None:
        sim = _sequence_similarity if feat.dim() == 4 else (lambda a, b: a @ b.T)
    logits = sim(anchors, contrast) / t
    rows = per * n
    not_self = torch.ones_like(logits)
    not_self[torch.arange(rows), torch.arange(rows)] = 0.0
    pos = pos.repeat(per, views) * not_self
    # log-softmax over every other row; the max is taken as the seed takes it (self entries as 0)
    top = (logits * not_self).max(dim=1, keepdim=True).values.detach()
    shifted = logits - top
    denom = (torch.exp(shifted * not_self) * not_self).sum(1, keepdim=True)
    log_prob = shifted - torch.log(denom)
    count = pos.sum(1)
    has = count > 0
    mean_pos = (pos * log_prob).sum(1)[has] / count[has]
    if not bool(has.any()):
        return feat.sum() * 0.0  # no anchor has a positive: nothing to pull together
    return -mean_pos.mean()


def group_supcon(emb, batch, **kwargs):
    """Embeddings (B, ...) of a multi-view batch -> mean over its groups of `supcon_loss`.

    batch: `group` (B,) group of each row, `view` (B,) 0 = clean, 1..K augmented, `label` (B,)
    (bona fide 1, spoof 0): within a group, items are the rows of view 0 (the source and each
    vocoded copy), their augmented views the views, and positives are items of the same label.
    Every group must hold the same views of every item (pylib.data.views builds them so).
    Returns a zero that keeps the graph when the batch has no `group` key.
    """
    if "group" not in batch:
        return emb.sum() * 0.0
    group = batch["group"].to(emb.device)
    view = batch["view"].to(emb.device)
    label = batch["label"].to(emb.device)
    total, groups = emb.new_zeros(()), torch.unique(group)
    for g in groups:
        rows = torch.nonzero(group == g).reshape(-1)
        nv = int(view[rows].max()) + 1
        if rows.numel() % nv:
            raise ValueError(f"group_supcon: group {int(g)} has {rows.numel()} rows, not items x {nv} views")
        # rows are item-major (item 0 views 0..K, item 1 ...): (items, views, ...)
        order = rows[torch.argsort(view[rows] * rows.numel() + torch.arange(rows.numel(), device=emb.device))]
        items = rows.numel() // nv
        feats = emb[order].reshape(nv, items, *emb.shape[1:]).transpose(0, 1)
        labs = label[order[:items]]
        total = total + supcon_loss(feats, labels=labs, **kwargs)
    return total / len(groups)
