"""pylib.models: the model families. `pylib.models.catalogue` names every model class; importing
this package imports none of them (each is loaded when a config asks for it)."""
