"""The write side: validate reports, append their events, ring the projector's doorbell."""
