"""Mailbox sync: connecting mailboxes, the engine that syncs one, the jobs that run it, status in words.

- ``mailboxes``: connect, reconnect, pause, resume, disconnect, purge (services; the boundary commits).
- ``engine``: one sync of one mailbox, batch by batch, each batch and its cursor in one transaction.
- ``budget``: the providers' quotas as database-backed budgets that every worker shares.
- ``jobs``: procrastinate tasks on PostgreSQL; the same tasks in-process with SQLite.
- ``status``: a mailbox's status in plain words.
- ``repository``: all SQL of mailboxes, credentials, connect flows, events and counts.
"""
