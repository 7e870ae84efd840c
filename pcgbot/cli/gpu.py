"""`pcgbot gpu`: what the GPUs of this host look like, and (with --check) make them clean."""

from __future__ import annotations

import json

import click

from ..gpu.nvml import (Inventory, NvmlUnavailable, check_gpus, inventory, open_nvml,
                  render_inventory)
from ..gpu.pool import visible_ids


def register(group: click.Group) -> None:
    group.add_command(gpu)


@click.command("gpu")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--check", is_flag=True,
              help="Also run the pre-run hygiene check on every visible GPU: kill leftovers of "
                   "pcgbot runs, report foreign holders (exit 1 if any GPU is dirty).")
@click.option("--threshold-mib", type=float, default=2048.0, show_default=True,
              help="With --check: memory in use above which a GPU without holders is dirty.")
@click.option("--release-wait", type=float, default=30.0, show_default=True,
              help="With --check: seconds to wait for a killed leftover's memory to come back.")
def gpu(as_json: bool, check: bool, threshold_mib: float, release_wait: float) -> int:
    """GPU inventory via NVML: index, name, UUID, memory, compute processes (with their pcgbot
    run marker, if any) and NVLink/PCIe topology.  Without NVML or a GPU this says so and
    exits 0 (sweeps then run on CPU slots)."""
    try:
        nv = open_nvml()
    except NvmlUnavailable as e:
        if as_json:
            click.echo(json.dumps({"available": False, "reason": str(e), "gpus": []}))
        else:
            click.echo(f"no GPU: {e} (sweeps run on CPU slots)")
        return 0
    out = {"available": True, **inventory(nv).to_dict()}
    dirty: dict[int, str] = {}
    if check:
        dirty, cleaned = check_gpus(nv, visible_ids(nv), run_id="pcgbot-gpu-check",
                                    threshold_mib=threshold_mib, release_wait_s=release_wait)
        out["check"] = {"dirty": {str(k): v for k, v in dirty.items()},
                        "cleaned": [c.__dict__ for c in cleaned]}
    if as_json:
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(render_inventory(Inventory(out["driver"], out["gpus"], out["links"])))
        if check:
            for c in out["check"]["cleaned"]:
                click.echo(f"cleaned: GPU {c['gpu']} leftover pid {c['pid']} ({c['name']}) of "
                           f"run {c['marker']}: killed {len(c['killed'])} process(es), "
                           f"memory back in {c['released_s']:.1f}s")
            for g, why in sorted(dirty.items()):
                click.echo(f"dirty: {why}")
            if not dirty:
                click.echo("all GPUs clean")
    return 1 if dirty else 0
