"""pylib.engine: the training loop (trainer), checkpoints, DDP, reports, inference runner, export.

Entry points call `build.run_training`, `infer.infer_set` and `export.export_model`; the engine knows
a model only through its declared contracts (pylib.contracts) and never imports model code: the
entry points hand it `model_class` (name -> class, the model catalogue's lookup).
"""
