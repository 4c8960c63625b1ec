"""Stand-in LLaDA config written for this project's tests (LLaDA's published key names)."""

from transformers import PretrainedConfig


class LLaDAConfig(PretrainedConfig):
    model_type = "llada"

    def __init__(self, d_model=32, n_heads=4, n_kv_heads=4, n_layers=2, mlp_hidden_size=64, vocab_size=64,
                 embedding_size=64, max_sequence_length=128, rope_theta=500000.0, rms_norm_eps=1e-5,
                 include_bias=False, weight_tying=False, block_type="llama", mask_token_id=4, **kwargs):
        self.d_model, self.n_heads, self.n_kv_heads, self.n_layers = d_model, n_heads, n_kv_heads, n_layers
        self.mlp_hidden_size, self.vocab_size, self.embedding_size = mlp_hidden_size, vocab_size, embedding_size
        self.max_sequence_length, self.rope_theta, self.rms_norm_eps = max_sequence_length, rope_theta, rms_norm_eps
        self.include_bias, self.weight_tying, self.block_type = include_bias, weight_tying, block_type
        self.mask_token_id = mask_token_id
        super().__init__(**kwargs)
