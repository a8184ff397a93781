"""Raw RFC 822, Gmail JSON and Graph JSON to ParsedEmail.

- ``rfc822``: ``parse_message`` (the fast header path every email takes) and ``extract_bodies`` (for emails
  being imported);
- ``addresses``: address header values to normalised participants (``parse_addresses``; each addr-spec is
  normalised by the top-level ``mailtrail.addresses``);
- ``keys``: the dedup key (``message_key``) and thread ids, the same for every source of one message;
- ``html``: ``sanitise_html``, ``html_to_text``, ``snippet``;
- ``headers``, ``dates``, ``charsets``, ``bodies``: the pieces those are built from.
"""
