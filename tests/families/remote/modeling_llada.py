"""Stand-in LLaDA model written for this project's tests, in the style of transformers-4.x remote code.

Reproduces LLaDA's module tree (model.transformer.{wte, blocks[i], ln_f, ff_out}; blocks with
attn_norm, q/k/v_proj or a fused att_proj, attn_out, ff_norm, ff_proj, up_proj, ff_out and a
rotary_emb that returns the rotated (q, k)) and its semantics: bidirectional attention through
one SDPA call that never materialises probabilities, logits read at the same position, and an
attention mask that is accepted but not applied (padding is attended to).
"""

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from .configuration_llada import LLaDAConfig


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        return self.weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)


class RotaryEmbedding(nn.Module):
    """Returns (q, k) rotated; q, k: (B, heads, T, d_head)."""

    def __init__(self, d_head, theta):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / theta ** (torch.arange(0, d_head, 2).float() / d_head), persistent=False)

    def forward(self, q, k):
        t = torch.arange(q.shape[-2], device=q.device).float()
        freqs = torch.outer(t, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(q.dtype), emb.sin().to(q.dtype)

        def rotate(x):
            x1, x2 = x.chunk(2, dim=-1)
            return x * cos + torch.cat((-x2, x1), dim=-1) * sin

        return rotate(q), rotate(k)


class LLaDABlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        d, h, kv = config.d_model, config.n_heads, config.n_kv_heads
        self.n_heads, self.n_kv_heads, self.d_head = h, kv, d // h
        self.fused = config.block_type == "sequential"
        self.attn_norm = RMSNorm(d, config.rms_norm_eps)
        self.ff_norm = RMSNorm(d, config.rms_norm_eps)
        if self.fused:
            self.att_proj = nn.Linear(d, d + 2 * kv * self.d_head, bias=config.include_bias)
        else:
            self.q_proj = nn.Linear(d, d, bias=config.include_bias)
            self.k_proj = nn.Linear(d, kv * self.d_head, bias=config.include_bias)
            self.v_proj = nn.Linear(d, kv * self.d_head, bias=config.include_bias)
        self.attn_out = nn.Linear(d, d, bias=config.include_bias)
        self.ff_proj = nn.Linear(d, config.mlp_hidden_size, bias=config.include_bias)
        self.up_proj = nn.Linear(d, config.mlp_hidden_size, bias=config.include_bias)
        self.ff_out = nn.Linear(config.mlp_hidden_size, d, bias=config.include_bias)
        self.rotary_emb = RotaryEmbedding(self.d_head, config.rope_theta)

    def forward(self, x):
        B, T, _ = x.shape
        h = self.attn_norm(x)
        if self.fused:
            q, k, v = self.att_proj(h).split((self.n_heads * self.d_head, self.n_kv_heads * self.d_head, self.n_kv_heads * self.d_head), dim=-1)
        else:
            q, k, v = self.q_proj(h), self.k_proj(h), self.v_proj(h)
        q = q.view(B, T, self.n_heads, self.d_head).transpose(1, 2)
        k = k.view(B, T, self.n_kv_heads, self.d_head).transpose(1, 2)
        v = v.view(B, T, self.n_kv_heads, self.d_head).transpose(1, 2)
        q, k = self.rotary_emb(q, k)
        group = self.n_heads // self.n_kv_heads
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=False)
        x = x + self.attn_out(att.transpose(1, 2).reshape(B, T, -1))
        h = self.ff_norm(x)
        return x + self.ff_out(F.silu(self.ff_proj(h)) * self.up_proj(h))


class LLaDAModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.embedding_size, config.d_model),
            blocks=nn.ModuleList(LLaDABlock(config) for _ in range(config.n_layers)),
            ln_f=RMSNorm(config.d_model, config.rms_norm_eps),
            ff_out=nn.Linear(config.d_model, config.embedding_size, bias=False),
        ))

    def forward(self, input_ids):
        x = self.transformer.wte(input_ids)
        for block in self.transformer.blocks:
            x = block(x)
        return self.transformer.ff_out(self.transformer.ln_f(x))


class LLaDAModelLM(PreTrainedModel):
    config_class = LLaDAConfig
    base_model_prefix = "model"

    def __init__(self, config):
        super().__init__(config)
        self.model = LLaDAModel(config)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)

    # transformers-4.x signature: transformers 5 calls it with keyword arguments
    def tie_weights(self):
        if self.config.weight_tying:
            self.model.transformer.ff_out = self.model.transformer.wte

    def forward(self, input_ids, attention_mask=None, **kwargs):
        return CausalLMOutputWithPast(logits=self.model(input_ids))
