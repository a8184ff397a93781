"""`mailtrail demo`: the product running live against the sandbox (``live``), connected through the real
OAuth flows with a stand-in for the person who consents (``consent``)."""
