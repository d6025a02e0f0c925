"""FRA's facial-mask-embedding head (Gao and Patras, section 3.2, Fig. 2; MaskFormer's query decoder).

N learnable query embeddings (the "facial queries") attend to the backbone's feature map (keys and
values) through a Transformer decoder, and an MLP maps each output to a D-dimensional facial mask
embedding Q (N x D). The paper's decoder has one layer (Table 8). The feature map is first projected
to the decoder width (MaskFormer uses 256); the paper does not say whether the keys carry a
positional encoding, and none is added here: the queries find regions by content.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MaskEmbeddingHead(nn.Module):
    """Feature map (B, C, H, W) -> facial mask embeddings (B, N, D)."""

    def __init__(self, in_dim: int, out_dim: int, queries: int, width: int, heads: int, layers: int) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(queries, width) * 0.02)
        self.memory = nn.Linear(in_dim, width)
        layer = nn.TransformerDecoderLayer(
            width, heads, dim_feedforward=4 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, layers, norm=nn.LayerNorm(width))
        self.mlp = nn.Sequential(
            nn.Linear(width, width),
            nn.ReLU(inplace=True),
            nn.Linear(width, width),
            nn.ReLU(inplace=True),
            nn.Linear(width, out_dim),
        )

    def forward(self, fmap: Tensor) -> Tensor:
        memory = self.memory(fmap.flatten(2).transpose(1, 2))
        tgt = self.queries.unsqueeze(0).expand(len(fmap), -1, -1)
        return self.mlp(self.decoder(tgt, memory))
