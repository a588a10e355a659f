"""The folder `bakeoff run` puts first on the child's PYTHONPATH: its `sitecustomize` calls `bakeoff.init()`."""
