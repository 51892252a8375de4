"""The LongBench suite: ``declaration`` (torch-free), ``suite``, ``data`` and ``metrics``."""
