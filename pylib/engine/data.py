"""Where the engine gets its data: a small replaceable factory over `pylib.data`.

The default factory calls the loader API of `pylib.data`. A module given to `pylib.bin.train
--import` may install another one with `set_data_factory` (the engine tests use in-memory data
this way; a custom pipeline could too). The loaders must follow the `pylib.data` protocol: a
DataLoader whose `batch_sampler` has set_epoch / state_dict / load_state_dict.

`spec_for(config, data_dir)` is how the engine gets a spec: the facts (sample rate, each feature's
dim/hop/ext) are derived from the features section and the dumps (pylib.data.spec.derive_facts)
before the factory parses the data section.
"""


class DataFactory:
    def spec(self, data_cfg):
        from pylib.data import load_data_spec

        return load_data_spec(data_cfg)

    def train_loaders(self, spec, data_dir, seed, rank, world_size):
        """-> (train loader, dev loader or None)."""
        from pylib.data import build_loader

        train = build_loader(
            spec, data_dir, spec.train, train=True, seed=seed, rank=rank, world_size=world_size
        )
        dev = build_loader(spec, data_dir, spec.dev, train=False) if spec.dev else None
        return train, dev

    def feature_stats(self, spec, data_dir):
        """{feature name: (mean, std)} for the model's norm buffers."""
        from pylib.data import load_feature_stats

        return load_feature_stats(spec, data_dir)

    def infer_loader(self, spec, data_dir, set_name):
        from pylib.data import build_loader

        return build_loader(spec, data_dir, set_name, train=False, with_outputs=False)


_factory = DataFactory()


def spec_for(config, data_dir=None, roots=()):
    """-> (spec, data section with the derived facts) of a whole recipe config; the section is what
    the resolved config stores, so a model can be rebuilt without the dump. data_dir and roots: the
    dumps whose features.yaml must agree (the config's train/dev roots and `roots`)."""
    from pylib.data.spec import derive_facts

    data, origins = derive_facts(config, data_dir, roots)
    spec = _factory.spec(data)
    if hasattr(spec, "origins"):
        spec.origins = origins
    return spec, data


def set_data_factory(factory):
    """Replace the data factory (an object with the DataFactory methods) for this process."""
    global _factory
    _factory = factory


def get_data_factory():
    return _factory
