from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Record(_message.Message):
    __slots__ = ("record_type", "record_id", "op", "origin_seq", "payload", "created_at_us")
    RECORD_TYPE_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_SEQ_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_US_FIELD_NUMBER: _ClassVar[int]
    record_type: str
    record_id: str
    op: str
    origin_seq: int
    payload: bytes
    created_at_us: int
    def __init__(self, record_type: _Optional[str] = ..., record_id: _Optional[str] = ..., op: _Optional[str] = ..., origin_seq: _Optional[int] = ..., payload: _Optional[bytes] = ..., created_at_us: _Optional[int] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("origin", "first_seq", "last_seq", "prev_hash", "batch_hash", "records", "signature", "gzip", "signer_chain")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    BATCH_HASH_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    GZIP_FIELD_NUMBER: _ClassVar[int]
    SIGNER_CHAIN_FIELD_NUMBER: _ClassVar[int]
    origin: str
    first_seq: int
    last_seq: int
    prev_hash: bytes
    batch_hash: bytes
    records: _containers.RepeatedCompositeFieldContainer[Record]
    signature: bytes
    gzip: bool
    signer_chain: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, origin: _Optional[str] = ..., first_seq: _Optional[int] = ..., last_seq: _Optional[int] = ..., prev_hash: _Optional[bytes] = ..., batch_hash: _Optional[bytes] = ..., records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ..., signature: _Optional[bytes] = ..., gzip: _Optional[bool] = ..., signer_chain: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("sender", "origins", "software", "nonce")
    SENDER_FIELD_NUMBER: _ClassVar[int]
    ORIGINS_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    sender: str
    origins: _containers.RepeatedScalarFieldContainer[str]
    software: str
    nonce: bytes
    def __init__(self, sender: _Optional[str] = ..., origins: _Optional[_Iterable[str]] = ..., software: _Optional[str] = ..., nonce: _Optional[bytes] = ...) -> None: ...

class OriginMark(_message.Message):
    __slots__ = ("origin", "high_water", "last_hash")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    HIGH_WATER_FIELD_NUMBER: _ClassVar[int]
    LAST_HASH_FIELD_NUMBER: _ClassVar[int]
    origin: str
    high_water: int
    last_hash: bytes
    def __init__(self, origin: _Optional[str] = ..., high_water: _Optional[int] = ..., last_hash: _Optional[bytes] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("receiver", "marks", "receiver_chain", "proof")
    RECEIVER_FIELD_NUMBER: _ClassVar[int]
    MARKS_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_CHAIN_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    receiver: str
    marks: _containers.RepeatedCompositeFieldContainer[OriginMark]
    receiver_chain: _containers.RepeatedScalarFieldContainer[bytes]
    proof: bytes
    def __init__(self, receiver: _Optional[str] = ..., marks: _Optional[_Iterable[_Union[OriginMark, _Mapping]]] = ..., receiver_chain: _Optional[_Iterable[bytes]] = ..., proof: _Optional[bytes] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("origin", "high_water", "last_hash", "quarantined")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    HIGH_WATER_FIELD_NUMBER: _ClassVar[int]
    LAST_HASH_FIELD_NUMBER: _ClassVar[int]
    QUARANTINED_FIELD_NUMBER: _ClassVar[int]
    origin: str
    high_water: int
    last_hash: bytes
    quarantined: int
    def __init__(self, origin: _Optional[str] = ..., high_water: _Optional[int] = ..., last_hash: _Optional[bytes] = ..., quarantined: _Optional[int] = ...) -> None: ...

class Refusal(_message.Message):
    __slots__ = ("origin", "reason", "message", "high_water", "last_hash")
    class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        REASON_UNSPECIFIED: _ClassVar[Refusal.Reason]
        GAP: _ClassVar[Refusal.Reason]
        REORDER: _ClassVar[Refusal.Reason]
        BROKEN_CHAIN: _ClassVar[Refusal.Reason]
        BAD_HASH: _ClassVar[Refusal.Reason]
        BAD_SIGNATURE: _ClassVar[Refusal.Reason]
        NOT_ALLOWED: _ClassVar[Refusal.Reason]
        MALFORMED: _ClassVar[Refusal.Reason]
        DIVERGENT: _ClassVar[Refusal.Reason]
    REASON_UNSPECIFIED: Refusal.Reason
    GAP: Refusal.Reason
    REORDER: Refusal.Reason
    BROKEN_CHAIN: Refusal.Reason
    BAD_HASH: Refusal.Reason
    BAD_SIGNATURE: Refusal.Reason
    NOT_ALLOWED: Refusal.Reason
    MALFORMED: Refusal.Reason
    DIVERGENT: Refusal.Reason
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    HIGH_WATER_FIELD_NUMBER: _ClassVar[int]
    LAST_HASH_FIELD_NUMBER: _ClassVar[int]
    origin: str
    reason: Refusal.Reason
    message: str
    high_water: int
    last_hash: bytes
    def __init__(self, origin: _Optional[str] = ..., reason: _Optional[_Union[Refusal.Reason, str]] = ..., message: _Optional[str] = ..., high_water: _Optional[int] = ..., last_hash: _Optional[bytes] = ...) -> None: ...

class ClientMessage(_message.Message):
    __slots__ = ("hello", "batch")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    batch: Batch
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., batch: _Optional[_Union[Batch, _Mapping]] = ...) -> None: ...

class ServerMessage(_message.Message):
    __slots__ = ("welcome", "ack", "refusal")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    ack: Ack
    refusal: Refusal
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., refusal: _Optional[_Union[Refusal, _Mapping]] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ("origin_prefix",)
    ORIGIN_PREFIX_FIELD_NUMBER: _ClassVar[int]
    origin_prefix: str
    def __init__(self, origin_prefix: _Optional[str] = ...) -> None: ...

class OriginStatus(_message.Message):
    __slots__ = ("origin", "high_water", "last_hash", "records", "last_applied_at_us", "quarantined")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    HIGH_WATER_FIELD_NUMBER: _ClassVar[int]
    LAST_HASH_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    LAST_APPLIED_AT_US_FIELD_NUMBER: _ClassVar[int]
    QUARANTINED_FIELD_NUMBER: _ClassVar[int]
    origin: str
    high_water: int
    last_hash: bytes
    records: int
    last_applied_at_us: int
    quarantined: int
    def __init__(self, origin: _Optional[str] = ..., high_water: _Optional[int] = ..., last_hash: _Optional[bytes] = ..., records: _Optional[int] = ..., last_applied_at_us: _Optional[int] = ..., quarantined: _Optional[int] = ...) -> None: ...

class StatusReply(_message.Message):
    __slots__ = ("receiver", "origins")
    RECEIVER_FIELD_NUMBER: _ClassVar[int]
    ORIGINS_FIELD_NUMBER: _ClassVar[int]
    receiver: str
    origins: _containers.RepeatedCompositeFieldContainer[OriginStatus]
    def __init__(self, receiver: _Optional[str] = ..., origins: _Optional[_Iterable[_Union[OriginStatus, _Mapping]]] = ...) -> None: ...

class FetchRequest(_message.Message):
    __slots__ = ("origin", "after_seq")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    origin: str
    after_seq: int
    def __init__(self, origin: _Optional[str] = ..., after_seq: _Optional[int] = ...) -> None: ...

class EnrolRequest(_message.Message):
    __slots__ = ("division", "token", "csr", "ca_public_key")
    DIVISION_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CSR_FIELD_NUMBER: _ClassVar[int]
    CA_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    division: str
    token: str
    csr: bytes
    ca_public_key: bytes
    def __init__(self, division: _Optional[str] = ..., token: _Optional[str] = ..., csr: _Optional[bytes] = ..., ca_public_key: _Optional[bytes] = ...) -> None: ...

class EnrolReply(_message.Message):
    __slots__ = ("chain", "root", "ca_chain")
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    CA_CHAIN_FIELD_NUMBER: _ClassVar[int]
    chain: _containers.RepeatedScalarFieldContainer[bytes]
    root: bytes
    ca_chain: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, chain: _Optional[_Iterable[bytes]] = ..., root: _Optional[bytes] = ..., ca_chain: _Optional[_Iterable[bytes]] = ...) -> None: ...
