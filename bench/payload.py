"""The requests the bench sends: CreatePayment, to the gateway and (as opaque bytes of the same size) to the
echo server, and GetPayment of payments the gateway made."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb

METHOD = "/cashier.v1.CashierService/CreatePayment"
GET_METHOD = "/cashier.v1.CashierService/GetPayment"
MERCHANT_ID = "bench-shop"
APP_ID = "bench-app"


def create_payment_request(out_trade_no: str) -> bytes:
    """What a trading app sends for an iOS in-app checkout (the same fields the e2e tests use), serialized.

    Built per call in the load generator on purpose: a real client pays for it too, and it costs the
    same against both servers.
    """
    return svc.CreatePaymentRequest(
        parent=f"merchants/{MERCHANT_ID}",
        out_trade_no=out_trade_no,
        amount=2590,
        currency_code="CNY",
        subject="Oolong tea, 250 g",
        client=pb.Client(platform=pb.PLATFORM_IOS_APP, app_name="Platform", app_version="9.2.0"),
        scenario=pb.SCENARIO_POST_PRODUCT_CARD,
    ).SerializeToString()


def channel_of(response: bytes) -> str:
    """The channel that served a CreatePayment response ('' when the bytes are not one, e.g. echoed)."""
    try:
        return svc.CreatePaymentResponse.FromString(response).payment.channel
    except DecodeError:  # the echo server's answer is a request, which may not parse as a response
        return ""


@dataclass(frozen=True)
class Requests:
    """What the load generator's clients send: with no `names`, CreatePayment with a new out_trade_no per
    call; with names, GetPayment of each in turn. Plain data, so it crosses into the spawned clients."""

    names: tuple[str, ...] = ()

    @property
    def method(self) -> str:
        return GET_METHOD if self.names else METHOD

    def build(self, tag: str, client: int, seq: int) -> bytes:
        if not self.names:
            return create_payment_request(f"b{tag}-{client}-{seq}")
        # Each client starts at its own place in the list, so the clients do not read in lockstep.
        name = self.names[(seq + client * 101) % len(self.names)]
        return svc.GetPaymentRequest(name=name).SerializeToString()


CREATE = Requests()
