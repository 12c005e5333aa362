"""Trainer: admin API, threshold scheduler, dataset snapshots and Ray Train + DeepSpeed fine-tuning."""
