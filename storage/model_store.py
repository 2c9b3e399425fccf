"""Model files under POSTATLAS_HOME/models/<model_id>/: the last epoch's checkpoint and the final model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from storage.home import Home

CHECKPOINT, FINAL = "checkpoint.pt", "model.pt"


def model_dir(home: Home, model_id: str) -> Path:
    """The folder of a model's files."""
    return home.models / model_id


def _atomic_save(state: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    torch.save(state, partial)
    os.replace(partial, path)
    return path


def save_checkpoint(home: Home, model_id: str, state: dict[str, Any]) -> Path:
    """The state of the epoch that just ended (written whole or not at all)."""
    return _atomic_save(state, model_dir(home, model_id) / CHECKPOINT)


def load_checkpoint(home: Home, model_id: str) -> dict[str, Any] | None:
    """The last epoch's state of an interrupted training, or None."""
    path = model_dir(home, model_id) / CHECKPOINT
    return torch.load(path, map_location="cpu", weights_only=False) if path.exists() else None


def save_model(home: Home, model_id: str, state: dict[str, Any]) -> Path:
    """The trained model (weights, config, vocabulary); returns its path."""
    return _atomic_save(state, model_dir(home, model_id) / FINAL)


def load_model(home: Home, checkpoint_path: str) -> dict[str, Any]:
    """A saved model's state from its path relative to the home (a clear error when the file is gone)."""
    path = home.path(checkpoint_path)
    if not path.exists():
        raise FileNotFoundError(
            f"model file {path} is missing: retrain (`postatlas train ...`) or restore POSTATLAS_HOME/models"
        )
    return torch.load(path, map_location="cpu", weights_only=False)


def load_pretrained_network(path: str | os.PathLike) -> torch.nn.Module:
    """A pretrained network from a local file only (nothing is downloaded).

    `.pt2`: a torch.export program (torch.export.save); anything else: TorchScript (torch.jit.save).
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(
            f"pretrained weights not found at {file}: give the local path of a network saved with "
            "torch.export.save (.pt2) or torch.jit.save; postatlas never downloads weights"
        )
    if file.suffix == ".pt2":
        return torch.export.load(str(file)).module()
    return torch.jit.load(str(file), map_location="cpu")
