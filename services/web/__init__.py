"""HTTP pieces both FastAPI apps share: problem+json, API keys, body limits, process wiring."""
