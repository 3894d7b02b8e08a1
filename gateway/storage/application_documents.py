"""Application documents, bytes included (gateway/domain/onboarding/documents.py).

Lock order: gateway/storage/__init__.py; documents are written after their application's row is locked.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, select

from gateway.domain.onboarding.documents import Document, DocumentType
from gateway.storage.rows import insert_ignore
from gateway.storage.tables import application_documents as docs

_DESCRIPTION = [docs.c.application_id, docs.c.sha256, docs.c.content_type, docs.c.size, docs.c.created_at]


def _document(row: Any, content: bytes | None = None) -> Document:
    return Document(application_id=row.application_id, sha256=row.sha256, type=DocumentType(row.content_type),
                    size=row.size, created_at=row.created_at, content=content)


class SqlDocumentRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, document: Document) -> bool:
        assert document.content is not None
        return insert_ignore(self.conn, docs, {
            "application_id": document.application_id, "sha256": document.sha256,
            "content_type": document.type.value, "size": document.size, "content": document.content,
            "created_at": document.created_at})

    def get(self, application_id: str, sha256: str, with_content: bool = False) -> Document | None:
        columns = [*_DESCRIPTION, docs.c.content] if with_content else _DESCRIPTION
        row = self.conn.execute(select(*columns).where(docs.c.application_id == application_id,
                                                       docs.c.sha256 == sha256)).first()
        if row is None:
            return None
        return _document(row, bytes(row.content) if with_content else None)

    def of_application(self, application_id: str) -> list[Document]:
        stmt = select(*_DESCRIPTION).where(docs.c.application_id == application_id).order_by(
            docs.c.created_at, docs.c.sha256)
        return [_document(row) for row in self.conn.execute(stmt)]

    def count(self, application_id: str) -> int:
        return self.conn.execute(select(func.count()).select_from(docs).where(
            docs.c.application_id == application_id)).scalar_one()

    def delete_of(self, application_id: str) -> int:
        return self.conn.execute(delete(docs).where(docs.c.application_id == application_id)).rowcount
