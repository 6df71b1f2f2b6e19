"""Marshmallow schemas for the identity service's RPC payloads (the shared contract)."""

from shared.contracts.identity import (  # noqa: F401 - re-exported for this service's edges
    Account,
    AccountCreate,
    AccountList,
    AccountQuery,
    ContactChangeRequest,
    LoginRequest,
    PasswordChangeRequest,
    PasswordResetComplete,
    Principal,
    ReasonRequest,
    RefreshRequest,
    ResetTriggered,
    RoleChange,
    Session,
    TokenResponse,
    TotpConfirmRequest,
)
