"""``/v1.0/users`` and ``/v1.0/users/{id|upn}``: the tenant's mailbox owners, as a connector discovers them.

Application tokens need User.Read.All (or User.ReadBasic.All, Directory.Read.All); a delegated token reads
its own user with User.Read. Directory errors use the directory's code, ``Authorization_RequestDenied``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from mailtrail.sandbox.graph.access import sync_directory
from mailtrail.sandbox.graph.errors import GraphError
from mailtrail.sandbox.graph.identity import AccessGrant, DirectoryUser
from mailtrail.sandbox.graph.shapes import parse_select
from mailtrail.sandbox.graph.state import GraphSandbox

DIRECTORY_READ = frozenset({"User.Read.All", "User.ReadBasic.All", "Directory.Read.All"})
USER_PROPERTIES = (
    "id", "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
    "preferredLanguage", "surname", "userPrincipalName",
)  # fmt: skip
_DENIED = "Insufficient privileges to complete the operation."


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
        sync_directory(graph.identity, graph.tenant)
        users = sorted(graph.identity.users.values(), key=lambda u: u.user_principal_name)
        return JSONResponse(
            {"@odata.context": context(request, False), "value": [user_json(u, select) for u in users]}
        )

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
