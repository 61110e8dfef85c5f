"""Recipes: one package per corpus that prepares manifests, trains, evaluates and reports."""
