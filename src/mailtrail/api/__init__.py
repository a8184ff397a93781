"""The HTTP side of mailtrail: one FastAPI app that assembles the routers each domain keeps in its own
``endpoints.py`` (as ``cli.py`` assembles each domain's commands), and ``mailtrail serve``."""
