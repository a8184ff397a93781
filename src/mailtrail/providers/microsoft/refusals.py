"""What the identity platform's refusals mean for a mailbox, in words a person can act on.

The token endpoint answers an OAuth error (``invalid_grant``, ``interaction_required``, ``invalid_client``...)
with an AADSTS code in ``error_codes`` and at the start of ``error_description``
(https://learn.microsoft.com/entra/identity-platform/reference-error-codes). A refusal that only a person can
end (a new sign-in, an admin's consent, a new client secret) is ``AccessRevoked``: the mailbox then "needs
re-authorisation" instead of being retried. The token endpoint's own trace and correlation ids are left out:
they are for Microsoft's support, and make the status line unreadable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mailtrail.providers.base import AccessRevoked, ProviderError, Unavailable

_CODE = re.compile(r"AADSTS(\d+)")
_RECONNECT = "connect the mailbox again"
# Refusals of a user's refresh token: what happened, and so what to do.
_USER: dict[int, str] = {
    50076: "Microsoft 365 now requires multi-factor authentication for this user",
    50079: "Microsoft 365 now requires this user to register for multi-factor authentication",
    50078: "this user's multi-factor authentication has expired",
    53003: "a Conditional Access policy of the organisation blocks mailtrail's access",
    50057: "this user's account is disabled",
    50053: "this user's account is locked",
    50173: "the sign-in was revoked (a password change or an admin revoking the user's sessions)",
    65001: "the user or an administrator withdrew consent for mailtrail",
    70008: "the sign-in expired after a long time unused",
    700082: "the sign-in expired after 90 days unused",
    700084: "the sign-in reached its maximum lifetime",
}
# Refusals of the app itself (app-only, and the client authentication of any grant): an admin must act.
_APP: dict[int, str] = {
    7000215: "the Microsoft app's client secret is wrong: check it in mailtrail's settings",
    7000222: "the Microsoft app's client secret has expired: an administrator must create a new one",
    700027: "the Microsoft app's certificate is not registered on the app, or does not match its key",
    700024: "the Microsoft app's certificate assertion is outside its validity (check the server's clock)",
    700016: (
        "the Microsoft app is not known in this tenant: an administrator of the tenant must grant it "
        "admin consent"
    ),
    7000112: "the Microsoft app is disabled in this tenant",
    90002: "this Microsoft 365 tenant does not exist (check the tenant id)",
}


def aadsts_code(result: Mapping[str, Any]) -> int | None:
    """The AADSTS code of an identity platform error answer, if it names one."""
    codes = result.get("error_codes")
    if isinstance(codes, list) and codes and isinstance(codes[0], int):
        return codes[0]
    found = _CODE.search(str(result.get("error_description") or ""))
    return int(found.group(1)) if found else None


def first_sentence(result: Mapping[str, Any]) -> str:
    """The identity platform's description up to its first full stop, without trace and correlation ids."""
    text = str(result.get("error_description") or "").split(" Trace ID:")[0].strip()
    return text.split("\r\n")[0].split("\n")[0][:300]


def user_refusal(result: Mapping[str, Any]) -> ProviderError:
    """The provider error for a refused renewal of one user's grant."""
    error, code = str(result.get("error", "")), aadsts_code(result)
    if code in _APP:
        return AccessRevoked(f"{_APP[code]} (AADSTS{code})")
    if error in ("invalid_grant", "interaction_required", "consent_required", "login_required"):
        what = _USER.get(code or 0, "Microsoft 365 no longer accepts mailtrail's access to this mailbox")
        return AccessRevoked(f"{what} (AADSTS{code or '?'}): {_RECONNECT}")
    return _other(error, code, result)


def app_refusal(result: Mapping[str, Any]) -> ProviderError:
    """The provider error for a refused app-only token (client credentials)."""
    error, code = str(result.get("error", "")), aadsts_code(result)
    if code in _APP:
        return AccessRevoked(f"{_APP[code]} (AADSTS{code})")
    if error in ("invalid_client", "unauthorized_client", "invalid_grant"):
        return AccessRevoked(
            f"the Microsoft identity platform refused the app's credentials ({error}, AADSTS{code or '?'}): "
            "an administrator must check the app's secret or certificate and its admin consent"
        )
    return _other(error, code, result)


def _other(error: str, code: int | None, result: Mapping[str, Any]) -> ProviderError:
    if error in ("temporarily_unavailable", "server_error"):
        return Unavailable(f"the Microsoft identity platform is unavailable ({error})")
    return ProviderError(
        f"the Microsoft identity platform refused the request ({error or 'no error code'}, "
        f"AADSTS{code or '?'}: {first_sentence(result)})"
    )
