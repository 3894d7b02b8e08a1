"""Transfers to an Alipay account (alipay.fund.trans.uni.transfer), de-duplicated by out_biz_no, their query
(alipay.fund.trans.common.query), and the certificate download of certificate mode, which Alipay requires
for transfers (the gateway's checks refuse a key-mode transfer with isv.missing-app-cert-sn first).

Payees, as Alipay checks them (protocol notes §9): an ALIPAY_LOGON_ID the sandbox knows (its accounts: logon id
-> holder name) must come with the holder's name, else PAYEE_USER_INFO_ERROR; an identity starting with
``fail`` is refused with PAYEE_NOT_EXIST, so tests can see a failed transfer. Other identities are paid (the
sandbox cannot know every account). A refused transfer is recorded as FAIL under its out_biz_no, so a repeat
answers the same and the query says FAIL. The faults' ``transfer_refusal`` answers a new transfer with the
platform account's quota or balance refusal instead, recording nothing (faults.TRANSFER_REFUSALS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .calls import BusinessError, Call, amount, out_no, text
from .certificates import ALIPAY_CERT_NOT_EXIST
from .store import Transfer
from .values import fen_to_yuan, fmt_time, new_digits

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
            refusal = sandbox.faults.take_transfer_refusal()  # the platform's quota or balance: nothing recorded
            if refusal is not None:
                raise BusinessError(*refusal)
            fail_code, fail_reason = _payee_refusal(sandbox, identity, identity_type, name)
            failing = bool(fail_code)
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
                fail_code=fail_code,
                fail_reason=fail_reason,
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


def _payee_refusal(sandbox: Sandbox, identity: str, identity_type: str, name: str) -> tuple[str, str]:
    """(sub_code, sub_msg) Alipay would refuse this payee with, or ("", "")."""
    if identity.lower().startswith("fail"):
        return "PAYEE_NOT_EXIST", "收款账号不存在"
    holder = sandbox.store.accounts.get(identity) if identity_type == "ALIPAY_LOGON_ID" else None
    if holder is not None and name != holder:
        return "PAYEE_USER_INFO_ERROR", "收款方姓名与账户不符 (payee name does not match the account holder)"
    return "", ""


def transfer_query(sandbox: Sandbox, call: Call) -> dict[str, Any]:
    """alipay.fund.trans.common.query by out_biz_no (or order_id): SUCCESS or FAIL, as to an Alipay account."""
    out_biz_no = out_no(call, "out_biz_no", required=False)
    order_id = text(call, "order_id", max_len=64)
    if not out_biz_no and not order_id:
        raise BusinessError("INVALID_PARAMETER", "参数有误，out_biz_no和order_id不能同时为空")
    with sandbox.store.lock:
        record = sandbox.store.transfers.get((call.app.app_id, out_biz_no)) if out_biz_no else next(
            (t for t in sandbox.store.transfers.values() if t.app_id == call.app.app_id and t.order_id == order_id),
            None,
        )
        if record is None or (order_id and record.order_id != order_id):
            raise BusinessError("ORDER_NOT_EXIST", "转账订单不存在")
        answer = {
            "out_biz_no": record.out_biz_no,
            "order_id": record.order_id,
            "pay_fund_order_id": record.pay_fund_order_id,
            "status": record.status,
            "trans_amount": fen_to_yuan(record.amount_fen),
            "pay_date": fmt_time(record.trans_date),
        }
        if record.status == "FAIL":
            answer.update(fail_reason=record.fail_reason, error_code=record.fail_code)
        return answer


def download_certificate(sandbox: Sandbox, call: Call) -> dict[str, Any]:
    """alipay.open.app.alipaycert.download: the Alipay certificate file (Base64) for an ``alipay_cert_sn``."""
    if not sandbox.has_ca():
        raise BusinessError(ALIPAY_CERT_NOT_EXIST.sub_code, ALIPAY_CERT_NOT_EXIST.sub_msg)
    node = sandbox.ca.download(call.biz)
    if node.get("code") != "10000":
        raise BusinessError(node["sub_code"], node["sub_msg"], code=node["code"])
    return {"alipay_cert_content": node["alipay_cert_content"]}
