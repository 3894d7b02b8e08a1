"""Merchant onboarding: applications and their review, payout-account verification, documents, settlement
plans and deposits, app authorisation and the audit trail (issue 17).

A merchant exists only through an approved application. Application states:

    SUBMITTED --approve--> APPROVED              (the merchant is created)
    SUBMITTED --reject---> REJECTED              (final; the reason is shown to the applicant)
    SUBMITTED --send back--> SENT_BACK           (the reviewer's reason says what to change)
    SUBMITTED | SENT_BACK --update--> SUBMITTED  (a new revision; the resubmission path)
    SUBMITTED | SENT_BACK --withdraw--> WITHDRAWN (final)

The payout account is verified on the application (account states UNVERIFIED → VERIFYING → VERIFIED |
FAILED, FAILED → VERIFYING again on a new attempt), before or after approval: collection opens when both
hold (collection.py).
"""
