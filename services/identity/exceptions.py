"""Errors of the identity service; all carry a code, an HTTP status and the field concerned.
Login failures never say whether the account exists."""

from shared.errors import Conflict, SimasnError, Unauthorized, ValidationFailed


class IdentityError(SimasnError):
    code = "identity_error"
    http_status = 400
    transient = False


class LoginFailed(Unauthorized):
    code = "login_failed"
    title = "NIP/nama pengguna atau kata sandi salah"


class LoginThrottled(SimasnError):
    """Too many failures from this client address for this login: wait `retry_after` seconds.
    Answered alike whether the account exists or not; the owner elsewhere is not held back."""

    code = "login_throttled"
    http_status = 429
    title = "Terlalu banyak percobaan gagal dari alamat ini; tunggu sebentar"
    transient = False


class TotpRequired(Unauthorized):
    code = "totp_required"
    title = "Masukkan kode OTP dari aplikasi autentikator"


class TotpInvalid(Unauthorized):
    code = "totp_invalid"
    title = "Kode OTP salah atau sudah dipakai"


class PasswordRejected(ValidationFailed):
    code = "password_policy"
    title = "Kata sandi tidak memenuhi ketentuan"


class AccountExists(Conflict):
    code = "account_exists"
    title = "Akun sudah terdaftar"


class TokenUsed(Unauthorized):
    code = "token_used"
    title = "Tautan atau token sudah tidak berlaku"
