"""import_project_nn --ssl-dir: where the SSL checkpoint of a seed SSL countermeasure is looked up
(the flag, else $NNSP_SSL_DIR, else SSL_pretrained/), with a project 09 ID-2 checkpoint fabricated
in the seed's layout (fairseq key names for the SSL part) around a tiny wav2vec 2.0."""


import pytest
import torch

from pylib.bin import import_project_nn
from pylib.config import from_dict
from pylib.errors import DataError, UserError
from pylib.models.cm import ssl_cm, ssl_cm_seed
from tests.models.ssl_seed import seed_state_dict


def fabricate(ssl_dir, out):
    """A tiny transformers model saved as `ssl_dir/xlsr_53_56k.pt` (a folder, read as a transformers
    model) and an ID-2 `trained_network.pt` around it at `out`; returns the reference ssl_cm."""
    from pylib.bin import make_tiny_ssl

    folder = ssl_dir / "xlsr_53_56k.pt"
    make_tiny_ssl.main(["--out", str(folder), "--seed", "1"])
    frontend = {"path": str(folder), "layers": "last", "finetune": True}
    torch.manual_seed(0)
    ref = ssl_cm.SslCM(from_dict(ssl_cm.SslCmConfig, dict(frontend=frontend, back_end="ff"), where="t"))
    sd = seed_state_dict(ref)
    torch.save(sd, out)
    return ref.eval()


def test_ssl_dir_flag_wins_over_the_variable(tmp_path, monkeypatch, capsys):
    from pylib import load_model

    ssl_dir, elsewhere = tmp_path / "ssl", tmp_path / "empty"
    ssl_dir.mkdir()
    elsewhere.mkdir()
    ckpt, out = tmp_path / "trained_network.pt", tmp_path / "model.pt"
    ref = fabricate(ssl_dir, ckpt)
    monkeypatch.chdir(tmp_path)  # no SSL_pretrained/ here
    monkeypatch.setenv("NNSP_SSL_DIR", str(elsewhere))  # holds nothing: only the flag can succeed

    args = ["--checkpoint", str(ckpt), "--arch", "model-ID-2", "--out", str(out)]
    with pytest.raises(DataError, match=r"xlsr_53_56k\.pt, not found at .*empty.*--ssl-dir"):
        import_project_nn.main(args)
    assert not out.exists()
    assert import_project_nn.main([*args, "--ssl-dir", str(ssl_dir)]) == 0
    assert "model-ID-2" in capsys.readouterr().out
    assert ssl_cm_seed._SSL_DIR is None  # the flag holds for the one import only

    model = load_model(out)
    g = torch.Generator().manual_seed(0)
    batch = {"wav": 0.1 * torch.randn(2, 8000, 1, generator=g), "wav_len": torch.tensor([8000, 6400])}
    assert model.infer(batch) == pytest.approx(ref.infer(batch), rel=1e-6)

    monkeypatch.delenv("NNSP_SSL_DIR")  # the default: SSL_pretrained/ under the working directory
    (ssl_dir).rename(tmp_path / "SSL_pretrained")
    assert import_project_nn.main([*args[:-1], str(tmp_path / "m2.pt")]) == 0

    with pytest.raises(UserError, match="--ssl-dir .*not a folder"):
        import_project_nn.main([*args, "--ssl-dir", str(tmp_path / "nowhere")])
