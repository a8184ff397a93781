"""Sign-in and roles: users of a workspace, web sessions, API tokens, Google and Microsoft sign-in.

- ``dependencies``: what endpoints and pages use: ``CurrentUser``, ``AdminUser``, ``DbSession``,
  ``require_csrf``, and the session cookie (README.md beside this file).
- ``endpoints``: ``POST``/``DELETE /api/v1/session``, ``GET /api/v1/me``, ``/auth/{google|microsoft}/...``.
- ``users``: add, list, role, disable, enable, set a password; the user behind a Google or Microsoft sign-in.
- ``sessions``: sign in with a password, look a session up (sliding expiry), sign out, CSRF tokens.
- ``tokens``: API tokens ``mt_<prefix>_<secret>``: create (shown once), list, revoke, verify.
- ``oidc``: OpenID Connect with Google and Microsoft: the authorization URL, the code, the ID token's checks.
- ``passwords``: argon2id; ``ratelimit``: failed sign-ins per address and per IP; ``repository``: all SQL.
- ``cli``: ``mailtrail users ...`` and ``mailtrail tokens ...``.
"""
