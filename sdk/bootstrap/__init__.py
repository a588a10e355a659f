"""Put first on the PYTHONPATH of programs started by `bakeoff run`: its `sitecustomize` runs `init()`."""
