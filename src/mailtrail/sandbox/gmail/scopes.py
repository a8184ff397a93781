"""OAuth scopes: which ones each Gmail method accepts, and what the gmail.metadata scope forbids.

A method accepts a token that holds any one of its scopes, as each method's reference page lists them under
"Authorization scopes" (e.g. https://developers.google.com/gmail/api/reference/rest/v1/users.messages/list,
.../users.messages/insert, .../users.messages/modify, .../users.drafts/create); the tables below copy those
lists for the methods the sandbox serves (add-on scopes left out). A token without any of them gets 403
"Request had insufficient authentication scopes." (insufficientPermissions).
"""

from __future__ import annotations

from mailtrail.sandbox.gmail.errors import GmailError

MAIL = "https://mail.google.com/"
MODIFY = "https://www.googleapis.com/auth/gmail.modify"
READONLY = "https://www.googleapis.com/auth/gmail.readonly"
METADATA = "https://www.googleapis.com/auth/gmail.metadata"
INSERT = "https://www.googleapis.com/auth/gmail.insert"
COMPOSE = "https://www.googleapis.com/auth/gmail.compose"
LABELS = "https://www.googleapis.com/auth/gmail.labels"

_READ = frozenset({MAIL, MODIFY, READONLY, METADATA})
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "getProfile": _READ | {COMPOSE},
    "labels.list": _READ | {LABELS},
    "labels.get": _READ | {LABELS},
    "messages.list": _READ,
    "messages.get": _READ,
    "messages.attachments.get": frozenset({MAIL, MODIFY, READONLY}),  # not gmail.metadata: no bodies
    "history.list": _READ,
    "watch": _READ,
    "stop": _READ,
    "messages.insert": frozenset({MAIL, MODIFY, INSERT}),
    "messages.import": frozenset({MAIL, MODIFY, INSERT}),
    "messages.modify": frozenset({MAIL, MODIFY}),
    "messages.trash": frozenset({MAIL, MODIFY}),
    "messages.untrash": frozenset({MAIL, MODIFY}),
    "drafts.create": frozenset({MAIL, MODIFY, COMPOSE}),
}


def granted(scope: str) -> frozenset[str]:
    """The scopes of a token's space-separated ``scope`` string."""
    return frozenset(scope.split())


def require(method: str, scopes: frozenset[str]) -> None:
    """Raise Google's 403 unless ``scopes`` holds one of the scopes ``method`` accepts."""
    accepted = METHOD_SCOPES.get(method, frozenset({MAIL}))
    if scopes & accepted:
        return
    # The body and the WWW-Authenticate challenge as Google sends them, e.g.
    # https://github.com/googleworkspace/cli/issues/282 and https://github.com/kwent/react-google-contacts/issues/6
    error = GmailError(403, "Request had insufficient authentication scopes.", "insufficientPermissions")
    wanted = " ".join(sorted(accepted))
    error.headers["WWW-Authenticate"] = (
        f'Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="{wanted}"'
    )
    raise error


# Google applies gmail.metadata's restrictions whenever the token holds that scope, even beside a broader one
# (https://github.com/googleapis/google-api-python-client/issues/582, https://github.com/bytechefhq/bytechef/issues/5394),
# and rejects a `q` that is present at all, even empty. Messages as sent: 403 forbidden, domain global
# (https://github.com/dacastro4/laravel-gmail/issues/50, https://github.com/dacastro4/laravel-gmail/issues/90);
# the messages.list reference says q "cannot be used when accessing the api using the gmail.metadata scope".
def check_query(scopes: frozenset[str], q: str | None) -> None:
    """messages.list: a metadata-scoped token may not search."""
    if METADATA in scopes and q is not None:
        raise GmailError(403, "Metadata scope does not support 'q' parameter", "forbidden")


def check_format(scopes: frozenset[str], fmt: str) -> None:
    """messages.get: a metadata-scoped token gets only ``minimal`` and ``metadata``."""
    if METADATA in scopes and fmt in ("full", "raw"):
        raise GmailError(403, f"Metadata scope doesn't allow format {fmt.upper()}", "forbidden")
