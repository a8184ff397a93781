"""Workspaces: repository (SQL) and service (logic that flushes, never commits)."""
