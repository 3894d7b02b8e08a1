"""The settlement domain: accounts and balanced journal entries (`accounts`, `ledger`), the platform's fee
(`fees`), settlement days and availability dates (`calendar`), and the rules of one payout run (`payouts`).
Amounts are integer fen throughout."""
