"""mailtrail: customer email from Gmail and Microsoft 365, kept as engagements on people and accounts."""

__version__ = "0.1.0"
