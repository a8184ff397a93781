"""``/v1.0/users`` and ``/v1.0/users/{id|upn}``: the tenant's users, as a connector discovers mailbox owners.

Application tokens need User.Read.All (or User.ReadBasic.All, Directory.Read.All); a delegated token reads
its own user with User.Read. Directory errors use the directory's code, ``Authorization_RequestDenied``.
The directory can hold users without a mailbox (``identity.add_user``): they are listed here, and their mail
routes answer 404 ``MailboxNotEnabledForRESTAPI``.

Paging (https://learn.microsoft.com/graph/paging): "the GET /users endpoint returns a default of 100 results
in a single page", then an ``@odata.nextLink`` with a ``$skiptoken``; "/users supports $top but not $skip".
``$top`` must lie within 1..999 ("Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.",
https://learn.microsoft.com/en-us/answers/questions/1129204/microsoft-graph-api-get-users-doesnt-pull-all-entr);
``$skip`` answers Request_BadRequest "'$skip' is not
supported by the service." (the error quoted in microsoftgraph/msgraph-metadata#135).
"""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from mailtrail.sandbox.graph.access import sync_directory
from mailtrail.sandbox.graph.errors import GraphError
from mailtrail.sandbox.graph.identity import AccessGrant, DirectoryUser
from mailtrail.sandbox.graph.params import link
from mailtrail.sandbox.graph.shapes import parse_select
from mailtrail.sandbox.graph.state import GraphSandbox

DIRECTORY_READ = frozenset({"User.Read.All", "User.ReadBasic.All", "Directory.Read.All"})
USER_PROPERTIES = (
    "id", "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
    "preferredLanguage", "surname", "userPrincipalName",
)  # fmt: skip
_DENIED = "Insufficient privileges to complete the operation."
USERS_PAGE_SIZE = 100
MAX_USERS_PAGE_SIZE = 999


def _page_size(request: Request) -> int:
    if "$skip" in request.query_params:
        raise GraphError(400, "Request_BadRequest", "'$skip' is not supported by the service.")
    raw = request.query_params.get("$top")
    if raw is None:
        return USERS_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_USERS_PAGE_SIZE:
        raise GraphError(
            400,
            "Request_BadRequest",
            f"Invalid page size specified: '{raw}'. Must be between 1 and {MAX_USERS_PAGE_SIZE} inclusive.",
        )
    return size


def _offset(request: Request) -> int:
    token = request.query_params.get("$skiptoken")
    if token is None:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("users:"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise GraphError(400, "Request_BadRequest", "The $skiptoken value is not valid.") from None


def user_json(user: DirectoryUser, select: frozenset[str] | None) -> dict[str, object]:
    """The default properties of a ``user``, as ``GET /users`` returns them."""
    given, _, surname = user.display_name.partition(" ")
    full: dict[str, object] = {
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": given or None,
        "jobTitle": None,
        "mail": user.user_principal_name,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": "en-US",
        "surname": surname or None,
        "userPrincipalName": user.user_principal_name,
        "id": user.object_id,
    }
    return {k: v for k, v in full.items() if select is None or k in select or k == "id"}


def user_router(graph: GraphSandbox) -> APIRouter:
    """The user routes of one emulator."""
    router = APIRouter(prefix="/v1.0/users", tags=["users"])

    def allowed(grant: AccessGrant, user: DirectoryUser | None) -> bool:
        if grant.app_only:
            return bool(grant.roles & DIRECTORY_READ)
        if user is not None and user == grant.user:
            return bool(grant.scopes & ({"User.Read"} | DIRECTORY_READ))
        return bool(grant.scopes & DIRECTORY_READ)

    def context(request: Request, entity: bool) -> str:
        return f"{str(request.base_url).rstrip('/')}/v1.0/$metadata#users{'/$entity' if entity else ''}"

    @router.get("")
    def list_users(request: Request) -> Response:
        grant = graph.identity.verify(request.headers.get("authorization"))
        if not allowed(grant, None):
            raise GraphError(403, "Authorization_RequestDenied", _DENIED)
        select = parse_select(request.query_params.get("$select"), USER_PROPERTIES, "user")
        size, offset = _page_size(request), _offset(request)
        sync_directory(graph.identity, graph.tenant)
        users = sorted(graph.identity.users.values(), key=lambda u: u.user_principal_name)
        body: dict[str, object] = {
            "@odata.context": context(request, False),
            "value": [user_json(u, select) for u in users[offset : offset + size]],
        }
        if offset + size < len(users):
            query = dict(request.query_params)
            query["$skiptoken"] = base64.urlsafe_b64encode(f"users:{offset + size}".encode()).decode()
            body["@odata.nextLink"] = link(str(request.url).split("?")[0], query)
        return JSONResponse(body)

    @router.get("/{user}")
    def get_user(request: Request, user: str) -> Response:
        grant = graph.identity.verify(request.headers.get("authorization"))
        if user == "me":
            if grant.user is None:
                raise GraphError(
                    400, "BadRequest", "/me request is only valid with delegated authentication flow."
                )
            user = grant.user.user_principal_name
        sync_directory(graph.identity, graph.tenant)
        found = graph.identity.find_user(user)
        if not allowed(grant, found):
            raise GraphError(403, "Authorization_RequestDenied", _DENIED)
        if found is None:
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{user}' does not exist or one of "
                "its queried reference-property objects are "
                "not present.",
            )
        select = parse_select(request.query_params.get("$select"), USER_PROPERTIES, "user")
        return JSONResponse({"@odata.context": context(request, True), **user_json(found, select)})

    return router
