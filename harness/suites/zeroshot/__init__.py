"""The zero-shot suite: ``declaration`` (torch-free) and ``suite``."""
