"""The read side: thin queries over the read models, time travel, cheap polling."""
