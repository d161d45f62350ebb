"""Test-only worker entry: the real training worker, with accelerate's GPU gate for FSDP lifted.

accelerate 1.15 builds FSDP only for processes that own a GPU (``PartialState._prepare_backend``
returns no distributed type for CPU processes unless ``cpu=True``, and the FSDP branch of
``AcceleratorState`` runs for the ``MULTI_GPU``-like types only). torch's FSDP2
(``fully_shard``) itself runs on CPU with gloo. For processes asked to run FSDP on a machine
without CUDA, this driver makes accelerate's state take its ``MULTI_GPU`` path with the gloo
backend and the CPU device, then runs :func:`avem_plugins.launch.launcher.main` unchanged, so
accelerate's own FSDP2 preparation (``fully_shard``, full state-dict loading and saving) wraps
the model. Nothing else is patched; with CUDA present it changes nothing.
"""

from __future__ import annotations

import os

import torch
from accelerate.state import PartialState
from accelerate.utils import DistributedType

_prepare_backend = PartialState._prepare_backend
_set_device = PartialState.set_device


def _fsdp_on_cpu() -> bool:
    return (
        os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true"
        and os.environ.get("LOCAL_RANK") is not None
        and not torch.cuda.is_available()
    )


def prepare_backend(self, cpu=False, sagemaker_dp=False, backend=None):  # type: ignore[no-untyped-def]
    if _fsdp_on_cpu() and not cpu:
        return "gloo", DistributedType.MULTI_GPU
    return _prepare_backend(self, cpu, sagemaker_dp, backend)


def set_device(self):  # type: ignore[no-untyped-def]
    if _fsdp_on_cpu() and self.device is None:
        self.device = torch.device("cpu")
        return
    _set_device(self)


PartialState._prepare_backend = prepare_backend  # type: ignore[method-assign]
PartialState.set_device = set_device  # type: ignore[method-assign]

if __name__ == "__main__":
    from avem_plugins.launch.launcher import main

    main()
