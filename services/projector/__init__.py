"""The projector: folds the event log into the read models, batch by batch, from a checkpoint."""
