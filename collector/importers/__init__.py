"""Importers that turn integrators' documents (register tables) into plant configuration."""
