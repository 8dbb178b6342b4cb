"""Where a study lives: SQLite or any SQLAlchemy URL, or a journal file on a shared file system."""

from __future__ import annotations

import logging
import random
import time
import warnings
from pathlib import Path
from typing import Any

from caloforge._optional import require
from caloforge.tune.settings import TuneSettings

log = logging.getLogger(__name__)


def open_storage(url: str | Path) -> Any:
    """An Optuna storage from a URL: ``sqlite:///x.db`` (or any SQLAlchemy URL),
    ``journal:PATH`` or a path ending in ``.log``/``.journal`` (journal file)."""
    optuna = require("optuna")
    text = str(url)
    if text.startswith("journal:") or text.endswith((".log", ".journal")):
        path = Path(text.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(path)))
    if "://" not in text:
        raise ValueError(
            f"--storage {text!r}: expected sqlite:///PATH.db, an RDB URL "
            "(postgresql://...), journal:PATH or a .log/.journal file"
        )
    if text.startswith("sqlite:///"):
        Path(text.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(text)


def open_study(optuna: Any, storage_url: str, name: str, cfg: TuneSettings, pruner: Any) -> Any:
    """Create or load the study; retried, because workers that start together race to
    create the schema of a new SQLite database."""
    for attempt in range(6):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.create_study(
                    study_name=name,
                    storage=open_storage(storage_url),
                    directions=cfg.directions,
                    sampler=optuna.samplers.TPESampler(seed=cfg.seed),
                    pruner=pruner,
                    load_if_exists=True,
                )
        except Exception as exc:  # sqlalchemy IntegrityError/OperationalError of the race
            if attempt == 5 or not type(exc).__module__.startswith(("sqlalchemy", "optuna")):
                raise
            log.info("opening study %s: %s; retrying", name, type(exc).__name__)
            time.sleep(0.2 + 0.3 * attempt + random.random() * 0.3)
    raise AssertionError("unreachable")


__all__ = ["open_storage", "open_study"]
