"""The GPU stage: the GPUs of this machine through NVML, and the pool runs are handed GPUs from.

``open_nvml`` / ``inventory`` list the GPUs, who holds them and how they are linked (raising
``NvmlUnavailable`` where there is no NVML); ``check_gpus`` is GPU hygiene (leftover processes and
memory before and after a run).  ``GpuPool`` hands a k-GPU run its GPUs and quarantines a dirty
one; ``gpu_pool_or_none`` builds it from the machine, or says there is none.

Modules: ``nvml`` (inventory and hygiene), ``pool`` (the GPU pool).
"""

from .nvml import open_nvml, inventory, check_gpus, NvmlUnavailable
from .pool import GpuPool, gpu_pool_or_none

__all__ = ["open_nvml", "inventory", "check_gpus", "NvmlUnavailable", "GpuPool", "gpu_pool_or_none"]
