"""Application documents (a business licence image): typed from their content, never from what the client
says, stored by the SHA-256 of their bytes (the same file added twice is one document)."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.errors import Violations

# Under gRPC's 4 MiB default message size, with room for the rest of the request.
MAX_DOCUMENT_BYTES = 3 * 1024 * 1024
MAX_DOCUMENTS = 10  # per application


class DocumentType(enum.Enum):
    PNG = "image/png"
    JPEG = "image/jpeg"
    PDF = "application/pdf"


# Each type's signature at the start of the file (PNG: its 8-byte signature; JPEG: SOI and the first marker's
# 0xFF; PDF: the header "%PDF-", which the PDF standard puts first).
_MAGIC = ((b"\x89PNG\r\n\x1a\n", DocumentType.PNG), (b"\xff\xd8\xff", DocumentType.JPEG),
          (b"%PDF-", DocumentType.PDF))


def sniff(content: bytes) -> DocumentType | None:
    for magic, kind in _MAGIC:
        if content.startswith(magic):
            return kind
    return None


@dataclass(frozen=True, slots=True)
class Document:
    application_id: str
    sha256: str  # hex: the document's identity within its application
    type: DocumentType
    size: int
    created_at: datetime
    content: bytes | None = None  # None when only its description was read


def check_document(content: bytes, v: Violations, path: str = "content") -> DocumentType | None:
    """The document's type from its content; a violation naming `path` when it is empty, too large, or not a
    PNG, JPEG or PDF (whatever name or type the client gave it)."""
    if not content:
        v.add(path, "required: the document's bytes")
        return None
    if len(content) > MAX_DOCUMENT_BYTES:
        v.add(path, f"at most {MAX_DOCUMENT_BYTES} bytes (3 MiB); this one has {len(content)}")
        return None
    kind = sniff(content)
    if kind is None:
        v.add(path, "must be a PNG, JPEG or PDF file (judged from its content, not its name)")
    return kind


def new_document(application_id: str, content: bytes, kind: DocumentType, now: datetime) -> Document:
    return Document(application_id=application_id, sha256=hashlib.sha256(content).hexdigest(), type=kind,
                    size=len(content), created_at=now, content=content)
