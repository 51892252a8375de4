"""Greedy searches' rounds kept on disk beside the store (``methods.search_log`` says why).

One JSON file per search under ``<home>/searches/``, named by the sha256 of everything that
decides its picks: the weights' hash, dtype, device (with the GPU's name), torch and
transformers versions, the sha256 of the calibration token ids, and the method's search name
and identity (its trial and candidate bounds). A file is written whole to a temporary name and
renamed, so a reader sees an old log or a new one, never half of one; a save keeps a longer log
on disk that starts with the same picks (another process of the same search got further). A file
that cannot be read as such a log is ignored with one warning, and the search computes anew.

Random-weight models (``config:...``) get no log: their hash names a config, not the weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from methods.base import RoundLogFn
from methods.search_log import Round, RoundLog, longest_agreeing
from skipbench.settings import get_settings

FORMAT = "skipbench-search-log"
VERSION = 1
log = logging.getLogger(__name__)


class FileRoundLog(RoundLog):
    def __init__(self, path: Path, key: str, identity: dict[str, Any]) -> None:
        super().__init__()
        self.path = path
        self.key = key
        self.identity = identity

    def load(self) -> list[Round]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            return self._unreadable(f"{type(exc).__name__}: {exc}")
        if not isinstance(data, dict) or (data.get("format"), data.get("version")) != (
            FORMAT,
            VERSION,
        ):
            return self._unreadable("not a search log of this version")
        if data.get("key") != self.key:
            return self._unreadable("its key is not its name's")
        rounds = data.get("rounds")
        if not isinstance(rounds, list) or not all(_is_round(r) for r in rounds):
            return self._unreadable("its rounds are not [pick, loss] pairs")
        return [(pick, float(loss)) for pick, loss in rounds]

    def save(self, rounds: Sequence[Round]) -> None:
        merged = longest_agreeing(self.load(), rounds)
        payload = {
            "format": FORMAT,
            "version": VERSION,
            "key": self.key,
            "identity": self.identity,
            "rounds": [[pick, loss] for pick, loss in merged],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(payload, f, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _unreadable(self, why: str) -> list[Round]:
        log.warning("ignoring search log %s (%s); searching from scratch", self.path, why)
        return []


def _is_round(item: Any) -> bool:
    return (
        isinstance(item, list)
        and len(item) == 2
        and isinstance(item[0], (int, str))
        and not isinstance(item[0], bool)
        and isinstance(item[1], (int, float))
        and not isinstance(item[1], bool)
    )


def digest(material: dict[str, Any]) -> str:
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def search_context(model: Any, info: dict[str, Any], calibration: Any) -> dict[str, Any] | None:
    """What every search on this model and calibration shares, or None (nothing to key on)."""
    import torch
    import transformers

    if calibration is None or info.get("random_weights") or not info.get("hash"):
        return None
    param = next(model.parameters())
    device = param.device
    ids = calibration.detach().to("cpu", torch.int64).contiguous()
    return {
        "model_hash": info["hash"],
        "dtype": str(param.dtype),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "calibration_shape": list(ids.shape),
        "calibration_sha256": hashlib.sha256(ids.numpy().tobytes()).hexdigest(),
    }


def round_logs_for(model: Any, info: dict[str, Any], calibration: Any) -> RoundLogFn | None:
    """``ApplyContext.round_logs`` for a run: file logs, unless turned off or nothing to key on."""
    settings = get_settings()
    shared = search_context(model, info, calibration) if settings.search_logs else None
    if shared is None:
        return None
    directory = settings.search_logs_dir

    def make(search: str, identity: dict[str, Any]) -> RoundLog:
        material = {**shared, "search": search, "identity": identity}
        key = digest(material)
        return FileRoundLog(directory / f"{search}-{key[:20]}.json", key, material)

    return make
