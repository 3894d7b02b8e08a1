"""Transfers to an Alipay account (alipay.fund.trans.uni.transfer), de-duplicated by out_biz_no.

A payee identity starting with ``fail`` is refused with PAYEE_NOT_EXIST, so tests can see a failed transfer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .calls import BusinessError, Call, amount, out_no, text
from .store import Transfer
from .values import fmt_time, new_digits

if TYPE_CHECKING:
    from .core import Sandbox

TRANSFER_MIN_FEN = 10


def transfer(sandbox: Sandbox, call: Call) -> dict[str, Any]:
    out_biz_no = out_no(call, "out_biz_no")
    trans_fen = amount(call, "trans_amount", min_fen=TRANSFER_MIN_FEN)
    product_code = text(call, "product_code", required=True, max_len=64)
    if product_code != "TRANS_ACCOUNT_NO_PWD":
        raise BusinessError("INVALID_PARAMETER", f"参数有误，product_code不支持{product_code}")
    biz_scene = text(call, "biz_scene", max_len=64) or "DIRECT_TRANSFER"
    if biz_scene != "DIRECT_TRANSFER":
        raise BusinessError("INVALID_PARAMETER", f"参数有误，biz_scene不支持{biz_scene}")
    payee = call.biz.get("payee_info")
    if not isinstance(payee, dict) or not payee.get("identity") or not payee.get("identity_type"):
        raise BusinessError("INVALID_PARAMETER", "参数有误，payee_info.identity和identity_type必填")
    identity, identity_type = str(payee["identity"]), str(payee["identity_type"])
    name = str(payee.get("name") or "")
    if identity_type not in ("ALIPAY_USER_ID", "ALIPAY_LOGON_ID", "ALIPAY_OPEN_ID"):
        raise BusinessError("INVALID_PARAMETER", f"参数有误，identity_type不支持{identity_type}")
    if identity_type == "ALIPAY_LOGON_ID" and not name:
        raise BusinessError("INVALID_PARAMETER", "参数有误，identity_type为ALIPAY_LOGON_ID时name必填")
    key = (call.app.app_id, out_biz_no)
    with sandbox.store.changing():
        record = sandbox.store.transfers.get(key)
        if record is not None:
            if record.amount_fen != trans_fen or record.payee_identity != identity:
                raise BusinessError("PAYMENT_INFO_INCONSISTENCY", "两次请求商户单号一样，但是收款人或金额不一致")
        else:
            failing = identity.lower().startswith("fail")
            record = Transfer(
                out_biz_no=out_biz_no,
                app_id=call.app.app_id,
                order_id=call.now.strftime("%Y%m%d") + new_digits("1100", 24),
                pay_fund_order_id=call.now.strftime("%Y%m%d") + new_digits("1100", 24),
                amount_fen=trans_fen,
                payee_identity=identity,
                payee_identity_type=identity_type,
                payee_name=name,
                order_title=text(call, "order_title", max_len=128),
                remark=text(call, "remark", max_len=200),
                status="FAIL" if failing else "SUCCESS",
                trans_date=call.now,
                fail_code="PAYEE_NOT_EXIST" if failing else "",
                fail_reason="收款账号不存在" if failing else "",
            )
            sandbox.store.transfers[key] = record
        if record.status == "FAIL":
            raise BusinessError(record.fail_code, record.fail_reason)
        return {
            "out_biz_no": record.out_biz_no,
            "order_id": record.order_id,
            "pay_fund_order_id": record.pay_fund_order_id,
            "status": record.status,
            "trans_date": fmt_time(record.trans_date),
        }
