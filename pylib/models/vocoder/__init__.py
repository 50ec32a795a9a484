"""Neural vocoders: the NSF family (`nsf`, `nsf_gan`), HiFi-GAN (`hifigan`) and seed/jik876 imports.
Listed by name in `pylib.models.catalogue`."""
