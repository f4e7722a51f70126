from components.tuner.component import Tuner  # noqa: F401
