"""The import rules of docs/import-rules.md, as pure functions: no database, no clock, no I/O.

- ``decide.decide(email, snapshot, now) -> Decision``: rules 0a-0d and 1-6, every participant classified.
- ``links.plan_links(decision, snapshot) -> LinkPlan``: people to link and create, accounts, direction.
- ``classify.classify(role, address, t, snapshot) -> Classified``: one address's class; ``.why`` explains it.
- ``addresses``: ``blacklist_match``, ``strip_subaddress``, ``is_role_address``, ``domain_of`` (addresses come
  normalised by the top-level ``mailtrail.addresses``, which also checks the blacklist entries users type).
- ``types``: the data in and out (``WorkspaceSnapshot`` with ``add_person``, ``Decision``, ``LinkPlan``, ...).
- ``lookups`` and ``why``: the snapshot prepared for fast lookups, and the sentences ``explain`` shows.
"""
