"""Preprocessing per modality (spikes, continuous, calcium) and the common steps."""
