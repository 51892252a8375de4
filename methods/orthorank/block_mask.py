"""FlexAttention's block mask for "selected query j sees the keys up to its own position".

Built directly from the sorted positions of the selected queries: fully visible key blocks run
without a mask, blocks past a query block's last position are skipped, and only the diagonal
blocks evaluate the mask. Used by the ``flex`` and ``fused`` kernels.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from methods.orthorank.ops import compiled

BLOCK = 128


def block_indices(rows: torch.Tensor, kv_len: int, block: int) -> tuple[torch.Tensor, ...]:
    """The BlockMask's index tensors for "query j sees keys <= rows[b, j]" (integer work only).

    Queries are padded to whole blocks by repeating the last position (padded rows are valid
    and are sliced off afterwards). Returns (padded rows, partial counts, partial block indices,
    full counts, full block indices), the last four shaped ``[B, 1, q_blocks(, kv_blocks)]``.
    """
    bsz, q_len = rows.shape
    nqb, nkb = math.ceil(q_len / block), math.ceil(kv_len / block)
    q_pad = nqb * block
    rows_p = torch.cat([rows, rows[:, -1:].expand(bsz, q_pad - q_len)], dim=1)
    blocks = rows_p.view(bsz, nqb, block)
    lo, hi = blocks[..., 0], blocks[..., -1]  # smallest and largest position in each query block
    # key blocks every query sees entirely, and the last key block any query touches; the clamps
    # matter only for rows outside [0, kv_len) (``split_block_indices``: a query before a key
    # chunk sees none of it, one after it sees all of it)
    full = torch.div(lo + 1, block, rounding_mode="floor").clamp(0, nkb)
    last = torch.div(hi, block, rounding_mode="floor").clamp(-1, nkb - 1)
    partial = (last + 1 - full).clamp_min(0)
    ar = torch.arange(nkb, device=rows.device, dtype=torch.int32)
    full_idx = ar.expand(bsz, nqb, nkb)
    part_idx = (full[..., None].to(torch.int32) + ar).clamp_max(nkb - 1)
    return (
        rows_p,
        partial[:, None].to(torch.int32),
        part_idx[:, None].contiguous(),
        full[:, None].to(torch.int32),
        full_idx[:, None].contiguous(),
    )


def split_block_indices(
    rows: torch.Tensor, kv_len: int, block: int, splits: int
) -> tuple[torch.Tensor, ...]:
    """``block_indices`` with the keys cut into ``splits`` equal chunks, one batch entry each.

    Entry ``s * B + b`` is row ``b`` over the keys ``[s * c, (s + 1) * c)`` (``c = kv_len /
    splits``), with the positions made relative to the chunk, so "key <= position" still holds
    per chunk. More, shorter attention programs: for a few hundred selected queries at batch 1
    the unsplit kernel has fewer programs than a Hopper GPU has SMs in two waves.
    """
    if kv_len % splits:
        raise ValueError(f"kv_len={kv_len} is not divisible by splits={splits}")
    chunk = kv_len // splits
    rel = torch.cat([rows - s * chunk for s in range(splits)], dim=0)
    return block_indices(rel, chunk, block)


def position_block_mask(
    rows: torch.Tensor, kv_len: int, block: int = BLOCK, fused: bool = False
) -> tuple[Any, int]:
    """BlockMask for "query j sees keys <= rows[b, j]" with ``rows`` ascending per row.

    Returns the mask and the padded query length. ``fused=True`` builds the index tensors in
    one compiled kernel on CUDA instead of about a dozen small ones (integers: same values).
    """
    build = compiled("block_indices", block_indices, rows.device) if fused else block_indices
    rows_p, *blocks = build(rows, kv_len, block)
    return assemble_block_mask(rows_p, blocks, block), rows_p.shape[1]


def assemble_block_mask(rows_p: torch.Tensor, blocks: list[torch.Tensor], block: int) -> Any:
    """The BlockMask object from ``block_indices``'s output (host work only, no kernels)."""
    from torch.nn.attention.flex_attention import BlockMask

    def mask_mod(b: Any, h: Any, q_idx: Any, kv_idx: Any) -> Any:
        return kv_idx <= rows_p[b, q_idx]

    kv_pad = blocks[1].shape[-1] * block  # kv block indices: [B, 1, q_blocks, kv_blocks]
    kwargs: dict[str, Any] = dict(
        BLOCK_SIZE=block, mask_mod=mask_mod, seq_lengths=(rows_p.shape[1], kv_pad)
    )
    try:
        return BlockMask.from_kv_blocks(*blocks, **kwargs, compute_q_blocks=False)
    except TypeError:  # older torch without compute_q_blocks
        return BlockMask.from_kv_blocks(*blocks, **kwargs)
