"""SQLAlchemy Core adapters for the service layer's ports: tables, repositories, the unit of work.

Lock order (binding on every module, also those to come: settlement's ledger and payouts)
------------------------------------------------------------------------------------------
A write transaction that locks more than one row locks them in this order, skipping levels it does not
need and never going back to an earlier level once it holds a later one:

1. a merchant's row, then an app's or operator's row, then what hangs off them (grants, API keys);
2. an idempotency key (gateway/service/idempotency.claim, first in the transaction that acts: before
   CreatePayment inserts the payment, before ClosePayment's and RefundPayment's payment lock);
3. the payment's row: `payments.lock()` (SELECT … FOR UPDATE) or a conditional UPDATE of it, taken before
   anything of the payment is touched, also when only a refund is to change (RefundService._record);
4. the payment's refunds (their rows and their out_refund_no index entries);
5. settlement: a merchant's ledger and balance rows, then its payouts (settlement/storage/ledger.py: a
   booking only inserts entries and postings, in its builders' order; the balance cache's refresh takes
   SHARE on ledger_entries in a transaction holding nothing else, waiting for the bookings in flight);
6. events (the outbox, with anything adding one locks), then their lifecycle hook runs;
7. flags for operators (raised last in the change's transaction, or in a transaction of their own).

Several rows of one level are taken with FOR UPDATE SKIP LOCKED (claims: recovery, webhooks, hook runs),
which never waits, or in primary-key order. Reading a row without locking it is always allowed. PostgreSQL
also takes locks implicitly: an UPDATE or DELETE locks its rows; an INSERT … ON CONFLICT waits for the
transaction that holds a conflicting index entry, or is updating the row behind it (this is how recording
a refund, refund row then payment row, deadlocked against its retried copy, payment row then INSERT); a
foreign key check takes KEY SHARE on the referenced row. SQLite has one writer at a time (BEGIN
IMMEDIATE, and group_commit.py within a process) and cannot deadlock, but the same code runs on
PostgreSQL, so the order binds there too. tests/e2e/test_refund_retries.py hammers the refund path.
"""
