"""SimFLE's FaceMAE autoencoder (Moon et al., section 3.2, 4.1; He et al. 2022 MAE).

The encoder embeds s x s patches, adds position embeddings, prepends a class token and runs
Transformer blocks on the visible patches only; the decoder re-inserts a shared mask token at the
masked positions, adds its own position embeddings and predicts every patch's pixels. The paper uses
MAE with ViT-Base; the widths here are parameters (CPU defaults are small). Blocks are timm's
`vision_transformer.Block`. Position embeddings are learned rather than MAE's fixed sin-cos (the
paper does not say; with 16-49 patches both are cheap). The masked-image representation that SimFLE
distils (z_m of eq. 5) is the mean of the encoder's output patch tokens, as in the authors' code (the
paper does not say which output it is).
"""

from __future__ import annotations

import torch
from timm.models.vision_transformer import Block
from torch import Tensor, nn


class FaceMAE(nn.Module):
    """Masked image (a boolean patch mask) -> (mean of the encoded visible tokens, per-patch predictions)."""

    def __init__(
        self,
        size: int,
        patch: int,
        dim: int,
        depth: int,
        heads: int,
        decoder_dim: int,
        decoder_depth: int,
        decoder_heads: int,
    ) -> None:
        super().__init__()
        n = (size // patch) ** 2
        self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, n, dim) * 0.02)
        self.encoder = nn.Sequential(*[Block(dim, heads, mlp_ratio=4.0, qkv_bias=True) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.to_decoder = nn.Linear(dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.decoder_pos = nn.Parameter(torch.randn(1, n + 1, decoder_dim) * 0.02)
        self.decoder = nn.Sequential(
            *[Block(decoder_dim, decoder_heads, mlp_ratio=4.0, qkv_bias=True) for _ in range(decoder_depth)]
        )
        self.decoder_norm = nn.LayerNorm(decoder_dim)
        self.head = nn.Linear(decoder_dim, patch * patch * 3)
        nn.init.normal_(self.cls, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, images: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """images (B, 3, H, W), mask (B, N_p) True where masked, the same count per row."""
        tokens = self.patch_embed(images).flatten(2).transpose(1, 2) + self.pos
        b, n, d = tokens.shape
        keep = (~mask).nonzero()[:, 1].reshape(b, -1)
        visible = torch.gather(tokens, 1, keep[..., None].expand(-1, -1, d))
        x = self.norm(self.encoder(torch.cat([self.cls.expand(b, -1, -1), visible], dim=1)))
        y = self.to_decoder(x)
        full = self.mask_token.expand(b, n, -1).clone()
        full = full.scatter(1, keep[..., None].expand(-1, -1, y.shape[-1]), y[:, 1:])
        y = torch.cat([y[:, :1], full], dim=1) + self.decoder_pos
        pred = self.head(self.decoder_norm(self.decoder(y)))[:, 1:]
        return x[:, 1:].mean(dim=1), pred
