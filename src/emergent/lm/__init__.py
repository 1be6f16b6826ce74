"""The language model, shared by training, evaluation and the data preview: which model (registry),
loading it (loading, config), the chat template, rendering and masking a conversation (render), packing
rows (packing, attention), the loss and per-conversation scoring (loss), and the adapter on or off (adapter)."""
