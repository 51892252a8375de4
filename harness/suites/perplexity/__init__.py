"""The perplexity suite: ``declaration`` (torch-free) and ``suite``."""
