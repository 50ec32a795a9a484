"""What the user sees: a tqdm bar per epoch, a table line per epoch in train.log, tensorboard
events and curves.png. Only rank 0 makes one (others get a silent Reporter)."""

import logging
import math
import time
from pathlib import Path

from tqdm import tqdm

log = logging.getLogger("nnsp.train")


def _fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.4g}"


class Reporter:
    def __init__(self, exp_dir, enabled=True, tensorboard=True, curves=True):
        self.exp_dir = Path(exp_dir)
        self.enabled = enabled
        self.writer = None
        self.bar = None
        self.curves = curves
        self._header_done = False
        if enabled:
            self.exp_dir.mkdir(parents=True, exist_ok=True)
            self.log_path = self.exp_dir / "train.log"
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(self.exp_dir / "tensorboard"))

    def message(self, text):
        """A line in train.log and on the console (rank 0)."""
        if not self.enabled:
            return
        log.info(text)
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")

    def start_epoch(self, epoch, total, initial=0):
        if self.enabled:
            self.bar = tqdm(
                total=total,
                initial=initial,
                desc=f"epoch {epoch + 1}",
                dynamic_ncols=True,
                leave=False,
                mininterval=1.0,
            )

    def batch(self, step, stats, lrs, show):
        """Called after every iteration; tensorboard/postfix only every `show` steps."""
        if not self.enabled:
            return
        self.bar.update(1)
        if show:
            self.bar.set_postfix({k: _fmt(v) for k, v in list(stats.items())[:4]}, refresh=False)
            if self.writer is not None:
                for k, v in stats.items():
                    self.writer.add_scalar(f"train_step/{k}", v, step)
                for g, lr in lrs.items():
                    self.writer.add_scalar(f"lr/{g}", lr, step)

    def end_epoch(self, row, history):
        """Log one table row {epoch, time, train, dev, lr, best} and redraw the curves."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if not self.enabled:
            return
        keys_t = sorted(row["train"])
        keys_d = sorted(row["dev"])
        cols = ["epoch", "time_s"] + [f"train/{k}" for k in keys_t] + [f"dev/{k}" for k in keys_d]
        cols += [f"lr/{g}" for g in row["lr"]] + ["best"]
        vals = [str(row["epoch"]), f"{row['time']:.1f}"] + [_fmt(row["train"][k]) for k in keys_t]
        vals += [_fmt(row["dev"][k]) for k in keys_d] + [f"{v:.3g}" for v in row["lr"].values()]
        vals += ["*" if row["best"] else ""]
        width = [max(len(c), len(v)) for c, v in zip(cols, vals)]
        with open(self.log_path, "a", encoding="utf-8") as f:
            if not self._header_done:
                f.write("  ".join(c.rjust(w) for c, w in zip(cols, width)) + "\n")
                self._header_done = True
            f.write("  ".join(v.rjust(w) for v, w in zip(vals, width)) + "\n")
        log.info("epoch %d: %s", row["epoch"], "  ".join(f"{c}={v}" for c, v in zip(cols[1:], vals[1:])))
        if self.writer is not None:
            for part in ("train", "dev"):
                for k, v in row[part].items():
                    self.writer.add_scalar(f"{part}/{k}", v, row["epoch"])
            self.writer.flush()
        if self.curves:
            self.plot(history)

    def plot(self, history):
        """curves.png: every loss-like key per epoch, train solid, dev dashed."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from pylib.io.atomic import atomic_path

        keys = sorted({k for r in history for k in r["train"]} | {k for r in history for k in r["dev"]})
        if not keys:
            return
        n = min(len(keys), 6)
        fig, axes = plt.subplots(n, 1, figsize=(6, 2.2 * n), squeeze=False)
        for ax, k in zip(axes[:, 0], keys[:n]):
            for part, style in (("train", "-"), ("dev", "--")):
                pts = [(r["epoch"], r[part][k]) for r in history if k in r[part]]
                if pts:
                    ax.plot(*zip(*pts), style, marker=".", label=part)
            ax.set_ylabel(k)
            ax.legend(fontsize=7)
        axes[-1, 0].set_xlabel("epoch")
        fig.tight_layout()
        with atomic_path(self.exp_dir / "curves.png", suffix=".png") as tmp:
            fig.savefig(tmp)
        plt.close(fig)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()
