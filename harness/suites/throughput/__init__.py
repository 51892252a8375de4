"""The throughput suite: ``declaration`` (torch-free), ``suite`` and ``measure``."""
