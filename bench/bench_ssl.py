"""SSL front end speed on CPU (2 threads), with the tiny SSL model (make_tiny_ssl: 2 layers of width
32, the real CNN and frame shift):

1. inference utterances/s on 3-4 s utterances, one by one, against the same-run baseline of reading
   the cached features of the same utterances (stage 1's raw <f4 files, layers all), which is what
   frozen-SSL training reads instead of running the model;
2. back-end training steps/s of the toy recipe's model (egs/toy/ssl_cm/conf/ssl_fix_llgf.yaml: ssl_cm,
   llgf back end, proj_dim 32, LCNN width 16, 2 BLSTMs; batches of 16 crops of 2 s) on the same
   batches two ways: reading the cached last-layer features (<f4 files, padded into the batch) and
   running the frozen SSL model on the waveforms inside the model. Forward, backward and an Adam
   step each; the back ends start from the same weights.

`make bench BENCH_ARGS=ssl` runs this part alone.
"""

import tempfile
from pathlib import Path

import numpy as np
import torch
from timing import best_time

from pylib.io import read_f4, write_f4

SR = 16000


# the toy recipe's back end (egs/toy/ssl_cm/conf/ssl_fix_llgf.yaml) and batches
BACK_END = dict(proj_dim=32, back_end="llgf", lstm_layers=2, lcnn_width=16, lcnn_dropout=0.2,
                energy_weight=0.0)
BATCH, CROP, N_BATCHES = 16, 32000, 2


def _train_steps(tmp, folder):
    """(steps/s reading cached features, steps/s running the frozen SSL model, frames per crop)."""
    from pylib.config import from_dict
    from pylib.models.cm.ssl_cm import SslCM, SslCmConfig

    frontend = {"path": str(folder), "layers": "last", "finetune": False}
    torch.manual_seed(0)
    live = SslCM(from_dict(SslCmConfig, dict(BACK_END, input="wav", frontend=frontend), where="bench"))
    cached = SslCM(from_dict(SslCmConfig, dict(BACK_END, input="ssl", ssl_dim=live.ssl_dim), where="bench"))
    cached.load_state_dict({k: v for k, v in live.state_dict().items() if not k.startswith("frontend.")})
    g = np.random.default_rng(1)
    batches = []
    for b in range(N_BATCHES):
        wav = torch.from_numpy((0.1 * g.standard_normal((BATCH, CROP, 1))).astype(np.float32))
        label = torch.from_numpy(g.integers(0, 2, BATCH))
        with torch.no_grad():  # stage 1's cache of these crops: one <f4 file per crop
            feats, _ = live.frontend(wav[:, :, 0])
        paths = []
        for i, f in enumerate(feats.numpy()):
            paths.append(tmp / f"b{b}_{i}.f4")
            write_f4(paths[-1], f)
        batches.append((wav, label, paths))
    dim, frames = live.ssl_dim, feats.shape[1]

    def live_batch(wav, label, paths):  # the waveforms: the model runs the SSL model on them
        return {"wav": wav, "wav_len": torch.full((BATCH,), CROP), "label": label}

    def cached_batch(wav, label, paths):  # what the loader does with cached features: read, stack
        x = torch.from_numpy(np.stack([read_f4(p, dim) for p in paths]))
        return {"ssl": x, "ssl_len": torch.full((BATCH,), x.shape[1]), "label": label}

    def run(model, make):
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        model.train()

        def go():
            for wav, label, paths in batches:
                loss, _ = model(make(wav, label, paths))
                opt.zero_grad()
                loss.backward()
                opt.step()

        return N_BATCHES / best_time(go, 2, warmup=True)

    return run(cached, cached_batch), run(live, live_batch), frames


def main():
    from pylib.models.ssl import SSLFrontendConfig, build_ssl_frontend
    from pylib.models.ssl.fairseq import save_hf_folder
    from pylib.models.ssl.tiny import make_tiny_model

    torch.set_num_threads(2)
    g = np.random.default_rng(0)
    waves = [(0.1 * g.standard_normal(int(SR * g.uniform(3.0, 4.0)))).astype(np.float32) for _ in range(16)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        save_hf_folder(make_tiny_model("wav2vec2", seed=0), tmp / "tiny")
        fe = build_ssl_frontend(SSLFrontendConfig(path=str(tmp / "tiny"), layers="all"))
        dim = fe.out_dim * fe.n_layers

        def infer():
            return [fe(torch.from_numpy(w)[None])[0][0].reshape(-1, dim).numpy() for w in waves]

        for i, f in enumerate(infer()):
            write_f4(tmp / f"{i}.f4", f)
        paths = [tmp / f"{i}.f4" for i in range(len(waves))]
        run = best_time(infer, warmup=True)
        read = best_time(lambda: [read_f4(p, dim) for p in paths], warmup=True)
        (tmp / "steps").mkdir()
        cached_sps, live_sps, frames = _train_steps(tmp / "steps", tmp / "tiny")
    secs = sum(len(w) for w in waves) / SR
    print(
        f"tiny SSL model ({sum(p.numel() for p in fe.parameters()) / 1e3:.0f}k params), 16 utts of 3-4 s "
        f"({secs:.0f} s of audio), layers all ({dim} dims per frame), CPU 2 threads, best of 3:"
    )
    print(f"  read cached <f4 features (baseline): {len(waves) / read:9.1f} utt/s")
    print(
        f"  SSL inference (one by one)         : {len(waves) / run:9.1f} utt/s   "
        f"{run / read:.0f}x the read time, {secs / run:.0f}x real time"
    )
    print(
        f"back-end training (ssl_cm llgf at the toy conf's width), batches of {BATCH} x {CROP / SR:.0f} s "
        f"({frames} frames), {N_BATCHES} batches, best of 2:"
    )
    print(f"  cached SSL features (read <f4)      : {cached_sps:9.2f} steps/s")
    print(f"  frozen SSL model on the fly        : {live_sps:9.2f} steps/s   "
          f"cached is {cached_sps / live_sps:.1f}x faster")


if __name__ == "__main__":
    main()
