"""One module per group of operator commands; each defines ``register(app)``."""
