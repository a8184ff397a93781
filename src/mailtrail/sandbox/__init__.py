"""Local emulators of the Gmail API and Microsoft Graph mail: for tests, benchmarks, the demo, trying it out.

The pieces, from the bottom up:

- ``store.Tenant`` holds several ``Mailbox``es in memory. A message has Gmail labels *and* one Graph
  folder (derived from the labels), so both APIs see the same mailbox. Every change gets the mailbox's next
  history id in a change log (Gmail history, Graph delta) cut off after ``history_horizon``; listeners see
  changes. ``Tenant.deliver(raw, at=...)`` files one raw message in every named mailbox (INBOX, or SENT for
  the sender), now or when the clock reaches ``at``.
- ``clock.ManualClock`` (tests: ``advance()``, no sleeping) or ``clock.SystemClock`` (the CLI).
- ``seeding.seed_mailbox`` reads a file, mbox, Maildir, directory tree or tarball (streamed);
  ``generator.TrafficGenerator`` + ``generator.populate`` make plausible customer traffic from a seed.
- ``quota.QuotaLimiter`` / ``QuotaMiddleware`` (Gmail units per user, Graph requests per mailbox, concurrency)
  and ``faults.FaultPlan`` / ``FaultMiddleware`` (scripted or random errors, drops, delays, push faults).
- ``gmail.app.create_gmail_app(tenant)`` and ``graph.app.create_graph_app(tenant)``: FastAPI apps;
  ``server.serve({...})`` runs them on 127.0.0.1 random ports; ``mailtrail sandbox`` runs them for people.

A test in five lines::

    tenant = Tenant(ManualClock()); tenant.add_mailbox("ann@company.example")
    populate(tenant, TrafficGenerator(["ann@company.example"], seed=1), tenant.clock.now(), 50)
    app = create_gmail_app(tenant, dev_token="t")
    with serve({"gmail": app}) as urls:
        httpx.get(f"{urls['gmail']}/gmail/v1/users/me/messages", headers={"Authorization": "Bearer t"})
"""
