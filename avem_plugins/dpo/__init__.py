"""AVEm-DPO: config, loss, mismatched inputs, collator, trainer and the training entry point."""
