"""Raw RFC 822, Gmail JSON and Graph JSON to ParsedEmail."""
