"""What the engine relies on from a model, declared as abstract classes (nothing else is assumed).

A model class derives from `torch.nn.Module`, from exactly one TRAINING contract and from exactly
one KIND contract:

Training (how the trainer updates it):
- `LossModel`: one loss. `param_groups()` -> {group: [parameters]} (usually one group, "model");
  `forward(batch, step=0)` -> (loss tensor or None to skip the step, {stat name: float}).
- `GanModel`: a generator and a discriminator trained in turn. `param_groups()` has exactly the
  groups of `update_order` (class attribute, default ("discriminator", "generator"): the order of
  the updates within one step). Per step the trainer calls `generate(batch)` once, then for each
  group of `update_order` its loss method, backward and optimizer step:
  `discriminator_loss(batch, step, fake)` and `generator_loss(batch, step, fake, adversarial)`
  (adversarial: whether the discriminator is trained yet, i.e. whether to add the adversarial
  terms). `fake` is what `generate` returned; both loss methods must not change it.

Kind (what inference writes):
- `Vocoder`: `infer(batch)` -> one float32 numpy waveform (T,) per utterance, written as a wav.
- `Countermeasure`: `infer(batch)` -> one float score per utterance (higher: more bona fide),
  written to scores.txt.

`check_model(model, name)` raises a `ContractError` naming the model and what it lacks; the
engine calls it on every model it builds. This module imports only torch, typing, dataclasses and abc, so
models and the engine both sit above it.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch


class ContractError(TypeError):
    """A model class does not fulfil the contracts it must (message: the model and the fix)."""


class Trainable(ABC):
    """Anything the trainer can train: named parameter groups, one optimizer each."""

    @abstractmethod
    def param_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        """{group: parameters}, in the order the optimizer config lists them."""


class LossModel(Trainable):
    """A model trained on one loss (see the module docstring)."""

    @abstractmethod
    def forward(self, batch: dict, step: int = 0) -> tuple[torch.Tensor | None, dict[str, float]]:
        """The training loss of `batch` at optimizer step `step` and its statistics."""


class GanModel(Trainable):
    """A generator and a discriminator; the updates run in the declared `update_order`."""

    update_order: ClassVar[tuple[str, ...]] = ("discriminator", "generator")

    @abstractmethod
    def generate(self, batch: dict) -> torch.Tensor:
        """The generated output of `batch`, shared by both losses of one step."""

    @abstractmethod
    def discriminator_loss(self, batch: dict, step: int, fake: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The discriminator's loss on real data and `fake` (which it must detach)."""

    @abstractmethod
    def generator_loss(
        self, batch: dict, step: int, fake: torch.Tensor, adversarial: bool
    ) -> tuple[torch.Tensor, dict]:
        """The generator's loss of `fake`; with `adversarial`, including the discriminator's terms."""


@dataclass(frozen=True)
class Chunking:
    """What a vocoder needs to generate a long input in pieces (pylib.engine.longform.infer_long).

    inputs: the frame-rate batch keys (B, N, D) cut along N; hop: output samples per frame;
    context: frames of input either side of a piece that make its centre equal the whole-file
    output (at least the receptive field); exact: False where the context only makes it close
    (a recurrent part, e.g. a BLSTM, sees the whole input); state: whether `infer_chunk` carries
    state from one piece to the next (e.g. the NSF sine phase); align: every piece starts at a
    frame that is a multiple of it (more left context where needed: e.g. a post-filter on STFT
    frames of its own); carry: an autoregressive model that keeps one continuous sample stream:
    `infer_chunk` generates only the piece's kept centre, frames [a, b) of the whole input, from
    the state the previous piece left at frame a (caches, past samples; its position included:
    `infer_long` passes advance = b - start) and returns those (b - a) * hop samples, no
    cross-fade; its input still has `context` frames either side (the conditioning network's).
    """

    inputs: tuple[str, ...]
    hop: int
    context: int
    exact: bool = True
    state: bool = False
    align: int = 1
    carry: bool = False


class Vocoder(ABC):
    """Features in, waveform out.

    Long inputs: a vocoder that can be generated in pieces says how in `chunking()` (None: it
    cannot, and always gets whole utterances) and may override `infer_chunk` to carry state, and
    `chunk_init` for a state computed from the whole (frame-rate) input before the first piece.
    """

    kind: ClassVar[str] = "vocoder"
    # config keys of `model:` that only inference reads and that shape no parameter: stage 4 and
    # vocode may change them (`--set model.KEY=VALUE`) without retraining
    infer_keys: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def infer(self, batch: dict) -> list:
        """One float32 numpy waveform (T,) per utterance of `batch`, padding trimmed."""

    def chunking(self) -> Chunking | None:
        """How to cut a long input into pieces (see `Chunking`); None: never cut."""
        return None

    def chunk_init(self, batch: dict):
        """The state of the first piece, from the whole input (`infer_long` calls it once per long
        utterance, before the first `infer_chunk`); None: none needed."""
        return None

    def infer_chunk(self, batch: dict, start: int, advance: int, state=None) -> tuple[list, object]:
        """One piece of the utterances of `batch`: its inputs are frames [start, start + N) of the
        whole input, the next piece starts at frame start + advance. -> (`infer`'s waveforms of the
        piece, the state at frame start + advance for the next piece; None without state)."""
        return self.infer(batch), None


class Countermeasure(ABC):
    """Waveform (or features) in, one score per utterance out."""

    kind: ClassVar[str] = "countermeasure"
    infer_keys: ClassVar[tuple[str, ...]] = ()  # as Vocoder.infer_keys (no countermeasure has one yet)

    @abstractmethod
    def infer(self, batch: dict) -> list[float]:
        """One float score per utterance of `batch` (higher: more likely bona fide)."""


TRAINING = (LossModel, GanModel)
KINDS = (Vocoder, Countermeasure)
_ADD = "derive the model class from one of {}"


def _one_of(cls, bases, what):
    found = [b for b in bases if issubclass(cls, b)]
    names = " or ".join(f"pylib.contracts.{b.__name__}" for b in bases)
    if len(found) != 1:
        have = ", ".join(b.__name__ for b in found)
        raise ContractError(
            f"model {cls.__name__}: declares {'no' if not found else 'more than one'} {what} contract"
            f"{' (' + have + ')' if found else ''}; derive it from exactly one of {names}"
        )
    return found[0]


def check_model_class(cls, name=None):
    """Raise a ContractError unless `cls` declares one training and one kind contract and defines
    every method they declare. name: the registered model name, for the message."""
    label = f"{name!r} ({cls.__name__})" if name else cls.__name__
    if not issubclass(cls, torch.nn.Module):
        raise ContractError(f"model {label}: is not a torch.nn.Module; derive it from torch.nn.Module")
    training = _one_of(cls, TRAINING, "training")
    kind = _one_of(cls, KINDS, "kind")
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if training is LossModel and cls.forward is torch.nn.Module.forward:
        missing.append("forward")
    if missing:
        raise ContractError(
            f"model {label}: does not define {', '.join(missing)}, declared by "
            f"pylib.contracts.{training.__name__}/{kind.__name__}; add the method(s) to the model class"
        )
    if training is GanModel:
        order = tuple(cls.update_order)
        if sorted(order) != ["discriminator", "generator"]:
            raise ContractError(
                f"model {label}: update_order {order!r} must name the groups 'discriminator' and "
                "'generator' once each"
            )
    return training, kind


def check_model(model, name=None):
    """check_model_class of an instance, and its param_groups() must be the declared groups."""
    training, kind = check_model_class(type(model), name)
    if training is GanModel:
        groups = list(model.param_groups())
        if sorted(groups) != sorted(model.update_order):
            raise ContractError(
                f"model {name or type(model).__name__}: param_groups() gives {groups}, update_order "
                f"{list(model.update_order)}; a GanModel's groups are those of its update_order"
            )
    return training, kind


def model_kind(model):
    """"vocoder" or "countermeasure": what the model's `infer` returns (by its declared contract)."""
    return _one_of(type(model), KINDS, "kind").kind
