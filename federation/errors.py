"""The one error tree of Sunshine.

Every error a user or a peer can see is a :class:`SunshineError`. Each carries a stable machine ``code``, a
Simplified-Chinese ``message`` for the people at the hall, and structured ``details``. It is translated in one
place each: to HTTP status by ``federation.http_errors``, to gRPC status by ``sync_agent.server.grpc_status``, to
the CLI's exit status by ``federation.cli`` (``USER_ERRORS``)::

    SunshineError
    ├── ConfigError                 bad or missing configuration
    ├── ValidationError             malformed input (a field is missing or out of range)
    │   ├── InvalidDivisionCode     not a six-digit GB/T 2260 code, or unknown
    │   └── UnsupportedMediaType    a request body of a type the endpoint does not take (a multipart post to a
    │                               page that takes forms only)
    ├── Unauthenticated             the caller did not prove who it is (no or a bad certificate, token or login)
    │   ├── CertificateInvalid      a certificate that is expired, not yet valid, not the federation's, or of
    │   │                           another identity than the one it claims
    │   ├── CertificateRevoked      a certificate the province has revoked
    │   └── EnrolmentRefused        an enrolment token that is unknown, used, expired or for another division
    ├── Forbidden                   the caller's division scope does not cover the record (an inspector of
    │                               another city asking for a county it does not supervise)
    ├── SignatureInvalid            a batch whose origin signature is missing, malformed or does not verify
    ├── LimitExceeded               a message, batch or record over the configured size, or too many streams
    │   └── RateLimited             too many requests from one client (or for one case) in a while; ``retry_after``
    │                               says in how many seconds asking again may succeed
    ├── NotFound                    a record that does not exist
    │   ├── CaseNotFound
    │   ├── ItemNotFound            an item code the catalogue does not hold
    │   ├── AlertNotFound           a supervision alert (预警) that does not exist
    │   ├── ComplaintNotFound       a complaint (投诉) that does not exist
    │   ├── RatingNotFound          a rating (好差评) that does not exist
    │   └── SubmissionNotFound      an online application (网上申报) the county does not hold
    ├── Conflict                    the request is well formed but the current state forbids it
    │   ├── InvalidTransition       a lifecycle action not allowed in the status of a case, an alert, a
    │   │                           complaint or a rating
    │   ├── ConcurrentUpdate        the record changed under the request (retry)
    │   ├── ExtensionAlreadyUsed    a case may be extended once
    │   ├── KeyDataMissing          key data fields missing before decide
    │   └── JointTasksPending       a joint case with departments still working
    ├── CalendarError               the working-day calendar cannot answer
    │   └── CalendarRangeError      a date outside the supported span
    ├── StandardsError              a standards bundle is malformed or unusable
    │   └── StandardsNotLoaded      the node has no catalogue yet (not initialised)
    ├── StorageError                the database refused or is unreachable
    ├── SyncError                   replication (the sync agent adds BatchRefused and LinkError)
    │   └── RecordRejected          one replicated record fails validation or apply: it is quarantined, the
    │                               stream goes on
    └── NotificationError           a notification (SMS) could not be handled
        └── DeliveryFailed          the gateway refused it or could not be reached; ``retryable`` says whether
                                    trying again later may succeed
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlertNotFound",
    "CalendarError",
    "CalendarRangeError",
    "CaseNotFound",
    "CertificateInvalid",
    "CertificateRevoked",
    "ComplaintNotFound",
    "ConcurrentUpdate",
    "ConfigError",
    "Conflict",
    "DeliveryFailed",
    "EnrolmentRefused",
    "ExtensionAlreadyUsed",
    "Forbidden",
    "InvalidDivisionCode",
    "InvalidTransition",
    "ItemNotFound",
    "JointTasksPending",
    "KeyDataMissing",
    "LimitExceeded",
    "NotFound",
    "NotificationError",
    "RateLimited",
    "RatingNotFound",
    "RecordRejected",
    "SignatureInvalid",
    "StandardsError",
    "StandardsNotLoaded",
    "StorageError",
    "SubmissionNotFound",
    "SunshineError",
    "SyncError",
    "Unauthenticated",
    "UnsupportedMediaType",
    "ValidationError",
]


class SunshineError(Exception):
    """Root of every Sunshine error: a stable ``code``, a Chinese ``message`` and structured ``details``."""

    code = "internal"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    def __str__(self) -> str:
        if not self.details:
            return self.message
        extra = ", ".join(f"{k}={v}" for k, v in self.details.items())
        return f"{self.message} ({extra})"


class ConfigError(SunshineError):
    code = "config_error"


class ValidationError(SunshineError):
    code = "validation_error"


class InvalidDivisionCode(ValidationError):
    code = "invalid_division_code"


class UnsupportedMediaType(ValidationError):
    code = "unsupported_media_type"


class Unauthenticated(SunshineError):
    code = "unauthenticated"


class CertificateInvalid(Unauthenticated):
    code = "certificate_invalid"


class CertificateRevoked(Unauthenticated):
    code = "certificate_revoked"


class EnrolmentRefused(Unauthenticated):
    code = "enrolment_refused"


class Forbidden(SunshineError):
    code = "forbidden"


class SignatureInvalid(SunshineError):
    code = "signature_invalid"


class LimitExceeded(SunshineError):
    code = "limit_exceeded"


class RateLimited(LimitExceeded):
    """Too many requests in a while (the public portal's limits): ``retry_after`` seconds until one may succeed."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = max(1, int(retry_after))


class NotFound(SunshineError):
    code = "not_found"


class CaseNotFound(NotFound):
    code = "case_not_found"


class ItemNotFound(NotFound):
    code = "item_not_found"


class AlertNotFound(NotFound):
    code = "alert_not_found"


class ComplaintNotFound(NotFound):
    code = "complaint_not_found"


class RatingNotFound(NotFound):
    code = "rating_not_found"


class SubmissionNotFound(NotFound):
    code = "submission_not_found"


class Conflict(SunshineError):
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class ConcurrentUpdate(Conflict):
    code = "concurrent_update"


class ExtensionAlreadyUsed(Conflict):
    code = "extension_already_used"


class KeyDataMissing(Conflict):
    code = "key_data_missing"


class JointTasksPending(Conflict):
    code = "joint_tasks_pending"


class CalendarError(SunshineError):
    code = "calendar_error"


class CalendarRangeError(CalendarError):
    code = "calendar_out_of_range"


class StandardsError(SunshineError):
    code = "standards_error"


class StandardsNotLoaded(StandardsError):
    code = "standards_not_loaded"


class StorageError(SunshineError):
    code = "storage_error"


class SyncError(SunshineError):
    code = "sync_error"


class RecordRejected(SyncError):
    code = "record_rejected"


class NotificationError(SunshineError):
    code = "notification_error"


class DeliveryFailed(NotificationError):
    """A notifier could not deliver a message. ``reason`` is the Chinese text kept in the delivery log;
    ``retryable`` is False when sending the same message again cannot succeed (the gateway refused it)."""

    code = "delivery_failed"

    def __init__(self, reason: str, *, retryable: bool, **details: Any) -> None:
        super().__init__(reason, retryable=retryable, **details)
        self.reason = reason
        self.retryable = retryable
