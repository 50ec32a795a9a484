"""pylib.contracts: every model declares what the engine relies on; a missing piece is an error at
build time that names the model and what it lacks."""

import dataclasses

import pytest
import torch
from torch import nn

import tests.engine.toy_models  # noqa: F401
from pylib.contracts import (
    ContractError,
    Countermeasure,
    GanModel,
    LossModel,
    Vocoder,
    check_model,
    check_model_class,
    model_kind,
)
from pylib.engine import build
from pylib.engine.trainer import group_losses
from pylib.models.catalogue import get_model_class, model_names

VOCODERS = {"hn_sinc_nsf", "hn_nsf", "cyc_noise_nsf", "hifigan", "nsf_hifigan", "hn_sinc_nsf_hifigan",
            "wavenet", "waveglow", "ilpcnet", "blow"}
GANS = {"hifigan", "nsf_hifigan", "hn_sinc_nsf_hifigan"}
CMS = {"lcnn", "rawnet2", "ssl_cm"}


def test_every_shipped_model_declares_its_contracts():
    assert set(model_names()) == VOCODERS | CMS  # a new catalogue entry is classified here
    for name in VOCODERS | CMS:
        training, kind = check_model_class(get_model_class(name), name)
        assert kind is (Vocoder if name in VOCODERS else Countermeasure), name
        assert training is (GanModel if name in GANS else LossModel), name
        assert get_model_class(name).kind == ("vocoder" if name in VOCODERS else "countermeasure")


@dataclasses.dataclass
class _Cfg:
    hidden: int = 2


class _Base(nn.Module):
    Config = _Cfg

    def __init__(self, cfg=None, spec=None):
        super().__init__()
        self.g, self.d = nn.Linear(1, 1), nn.Linear(1, 1)

    def param_groups(self):
        return {"discriminator": list(self.d.parameters()), "generator": list(self.g.parameters())}

    def infer(self, batch):
        return [0.0]


class NoGeneratorLoss(_Base, GanModel, Vocoder):
    def generate(self, batch):
        return self.g(batch["x"])

    def discriminator_loss(self, batch, step, fake):
        return self.d(fake.detach()).mean(), {}


class NoForward(_Base, LossModel, Countermeasure):
    pass


class NoKind(_Base, LossModel):
    def forward(self, batch, step=0):
        return None, {}


class BothKinds(NoKind, Vocoder, Countermeasure):
    pass


class NotTrainable(_Base, Countermeasure):
    pass


def test_missing_pieces_are_named():
    with pytest.raises(ContractError, match=r"model 'g' \(NoGeneratorLoss\): does not define generator_loss"):
        check_model_class(NoGeneratorLoss, "g")
    with pytest.raises(ContractError, match="NoForward.*does not define forward.*LossModel/Countermeasure"):
        check_model_class(NoForward)
    with pytest.raises(ContractError, match="NoKind: declares no kind contract.*Vocoder or .*Countermeasure"):
        check_model_class(NoKind)
    with pytest.raises(ContractError, match="BothKinds: declares more than one kind contract"):
        check_model_class(BothKinds)
    with pytest.raises(ContractError, match="NotTrainable: declares no training contract.*LossModel or"):
        check_model_class(NotTrainable)
    with pytest.raises(ContractError, match="is not a torch.nn.Module"):
        check_model_class(type("Plain", (LossModel, Vocoder), {"forward": lambda s: 0}))


def test_build_refuses_a_model_missing_a_method():
    with pytest.raises(ContractError, match="'broken' .*generator_loss"):
        build.build_model({"model": {"name": "broken"}}, None, lambda name: NoGeneratorLoss)


class Gan(NoGeneratorLoss):
    def generator_loss(self, batch, step, fake, adversarial):
        loss = (fake - batch["y"]).pow(2).mean()
        return (loss + self.d(fake).mean() if adversarial else loss), {"adv": adversarial}


def test_gan_update_order_and_groups():
    bad_order = type("BadOrder", (Gan,), {"update_order": ("generator", "critic")})
    with pytest.raises(ContractError, match="update_order.*'discriminator' and 'generator'"):
        check_model_class(bad_order)
    odd_groups = type("OddGroups", (Gan,), {"param_groups": lambda self: {"generator": []}})
    with pytest.raises(ContractError, match=r"param_groups\(\) gives \['generator'\]"):
        check_model(odd_groups())
    assert model_kind(Gan()) == "vocoder" and model_kind(NoForward.__new__(NoForward)) == "countermeasure"
    with pytest.raises(ContractError, match="more than one kind"):
        model_kind(BothKinds())


def test_group_losses_follow_the_declared_order():
    """One generate per batch; discriminator then generator; adversarial only with D active."""
    model = Gan()
    calls = []
    model.g.register_forward_hook(lambda *a: calls.append("g"))
    batch = {"x": torch.ones(2, 1), "y": torch.zeros(2, 1)}
    out = [(groups, key, stats) for groups, _, stats, key in group_losses(model, batch, 0)]
    assert out == [
        (["discriminator"], "discriminator_loss", {}),
        (["generator"], "generator_loss", {"adv": True}),
    ]
    assert calls == ["g"]
    out = list(group_losses(model, batch, 0, active=["generator"]))
    assert [(o[0], o[2]) for o in out] == [(["generator"], {"adv": False})]
