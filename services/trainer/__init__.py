"""Trainer: admin API, threshold scheduler and Ray Train + DeepSpeed fine-tuning."""
