from components.tokenize.component import Tokenize  # noqa: F401
