"""The Gmail API v1 emulator: OAuth endpoints, users.* resources, batch, watch with Pub/Sub push."""
