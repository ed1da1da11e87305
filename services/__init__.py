"""Frontline: who controls which place, from the reports that news feeds publish."""
