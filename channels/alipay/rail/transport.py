"""One gateway.do call on the wire: sign once, send, verify the answer, classify it, retry when that is safe.

Transport trouble is an outcome, not an exception: a timeout, a refused connection, an HTTP 5xx, an
unverifiable or unreadable body all come back as an UNKNOWN :class:`AlipayOutcome` with a reason token.

Retries (bounded, doubling back-off, the *same signed bytes* each time):

* query, refund query, close, bill URL and precreate are retried after timeouts, connection errors,
  HTTP 5xx and Alipay's own "unknown" answers (20000, SYSTEM_ERROR): repeating them changes nothing
  (Alipay de-duplicates precreate by out_trade_no with identical parameters). Closing is only allowed
  in WAIT_BUYER_PAY, so a close that already went through answers the repeat with
  ACQ.TRADE_STATUS_ERROR, exactly as for a paid trade: after a retry that answer is UNKNOWN
  ("close_unconfirmed", query the trade), never a FAILURE.
* refund and transfer move money. Alipay de-duplicates them by out_request_no / out_biz_no, but
  refunds of one trade must be 3 s apart and a too-quick repeat may be refused with a code that looks
  definite. So they are retried only when the request certainly never left (connection refused or
  no pooled connection); otherwise the UNKNOWN goes back to the caller, who queries and may later
  re-send with the same out_request_no / out_biz_no.
* Never after a definite answer, a bad signature or an unreadable body (repeating cannot fix those).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from channels.alipay.rail.clock import Clock
from channels.alipay.rail.errors import (
    AlipayConfigError,
    AmountError,
    MalformedResponseError,
    ResponseSignatureError,
    UnknownAlipayCertificateError,
)
from channels.alipay.rail.outcomes import (
    AlipayOutcome,
    Operation,
    Outcome,
    classify_answer,
    refine,
    transport_outcome,
    untrusted_outcome,
)
from channels.alipay.rail.responses import VerifiedResponse, verify_response
from channels.alipay.rail.results import opt_str
from channels.alipay.rail.signed_request import FORM_CONTENT_TYPE, SignedRequest, build_signed_request
from channels.alipay.rail.signing import AlipayCredentials

if TYPE_CHECKING:
    from channels.alipay.rail.rotation import CertificateRotation

log = logging.getLogger(__name__)

#: Operations that may be repeated after the request may have reached Alipay.
RETRY_WHEN_MAYBE_SENT: frozenset[Operation] = frozenset(
    {
        Operation.QUERY, Operation.REFUND_QUERY, Operation.CLOSE, Operation.BILL_URL, Operation.PRECREATE,
        Operation.TRANSFER_QUERY,
    }
)

R = TypeVar("R")
#: Reads one verified node into a call's result (see :mod:`channels.alipay.rail.results`).
Build = Callable[[AlipayOutcome, Mapping[str, Any]], R]


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` counts the first try; back-off doubles from ``backoff_seconds``."""

    attempts: int = 3
    backoff_seconds: float = 0.2

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff_seconds < 0:
            raise AlipayConfigError("retry policy needs attempts >= 1 and a non-negative back-off")


class Transport:
    """Signs, sends and retries calls for one app at one gateway; the client owns ``http``'s lifetime."""

    def __init__(
        self,
        gateway_url: str,
        credentials: AlipayCredentials,
        http: httpx.Client,
        *,
        retry: RetryPolicy,
        notify_url: str | None,
        clock: Clock,
        sleep: Callable[[float], None],
        rotation: CertificateRotation | None = None,
    ) -> None:
        self.gateway_url = gateway_url
        self._rotation = rotation
        self.credentials = credentials
        self.http = http
        self._retry = retry
        self._notify_url = notify_url
        self._clock = clock
        self._sleep = sleep

    def sign(
        self,
        method: str,
        biz: Mapping[str, Any],
        *,
        notify_url: str | None = None,
        return_url: str | None = None,
        app_auth_token: str | None = None,
    ) -> SignedRequest:
        return build_signed_request(
            self.credentials,
            method,
            biz,
            now=self._clock(),
            notify_url=notify_url or self._notify_url,
            return_url=return_url,
            app_auth_token=app_auth_token,
        )

    def call(
        self,
        operation: Operation,
        biz: Mapping[str, Any],
        build: Build[R],
        *,
        app_auth_token: str | None,
        echoes: Mapping[str, Any],
        notify_url: str | None = None,
    ) -> R:
        """Sign once, then send until the answer is final or the retry policy says stop.

        ``echoes`` are fields the answer must repeat unchanged when it names them (the trade asked about).
        """
        request = self.sign(operation.value, biz, notify_url=notify_url, app_auth_token=app_auth_token)
        url = f"{self.gateway_url}?{request.query_string()}"
        body = request.form_body()
        attempt = 0
        maybe_processed = False  # an earlier attempt may have reached Alipay and been carried out
        while True:
            attempt += 1
            outcome, node = self._attempt(operation, url, body)
            if (
                maybe_processed
                and operation is Operation.CLOSE
                and outcome.failed
                and outcome.sub_code == "ACQ.TRADE_STATUS_ERROR"
            ):
                # "Not WAIT_BUYER_PAY" may be our own earlier attempt's doing: only a query can tell.
                outcome = refine(
                    outcome, to=Outcome.UNKNOWN, grpc_status="UNAVAILABLE", reason="close_unconfirmed"
                )
            if outcome.code is not None and node:
                mismatch = next((k for k, v in echoes.items() if k in node and node[k] != v), None)
                if mismatch is not None:
                    # A signed answer about another trade would be an Alipay bug or a replay: never act on it.
                    outcome, node = untrusted_outcome(f"response_{mismatch}_mismatch", outcome), {}
            try:
                result = build(outcome, node)
            except (MalformedResponseError, AmountError, ValueError):
                outcome = untrusted_outcome("malformed_answer", outcome)
                result = build(outcome, {})
            may_retry = (
                outcome.retryable
                and attempt < self._retry.attempts
                and (operation in RETRY_WHEN_MAYBE_SENT or not outcome.request_sent)
            )
            log.info(
                "alipay %s attempt %d: %s %s code=%s sub_code=%s%s",
                operation.value,
                attempt,
                outcome.outcome.value,
                outcome.reason,
                outcome.code,
                outcome.sub_code,
                " (retrying)" if may_retry else "",
            )
            if not may_retry:
                return result
            maybe_processed = maybe_processed or outcome.request_sent
            self._sleep(self._retry.backoff_seconds * 2 ** (attempt - 1))

    def _attempt(
        self, operation: Operation, url: str, body: bytes
    ) -> tuple[AlipayOutcome, Mapping[str, Any]]:
        try:
            response = self.http.post(url, content=body, headers={"Content-Type": FORM_CONTENT_TYPE})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
            # Raised before any byte of the request was written.
            return transport_outcome("connect_failed", request_sent=False), {}
        except httpx.TimeoutException:
            return transport_outcome("timeout", request_sent=True), {}
        except httpx.TransportError:
            return transport_outcome("transport_error", request_sent=True), {}
        if response.status_code >= 500:
            return transport_outcome(f"http_{response.status_code}", request_sent=True), {}
        if response.status_code != 200:
            # Alipay answers 200 even for errors; anything else is a proxy or a wrong URL. Who knows
            # whether the request got through: UNKNOWN, and INTERNAL so an operator looks.
            return untrusted_outcome(f"http_{response.status_code}"), {}
        try:
            verified = self._verify(operation, response)
        except ResponseSignatureError:
            log.warning("alipay %s: response signature does not verify", operation.value)
            return untrusted_outcome("response_signature_invalid"), {}
        except MalformedResponseError as exc:
            log.warning("alipay %s: unreadable response: %s", operation.value, exc)
            return untrusted_outcome("malformed_response"), {}
        except UnknownAlipayCertificateError:
            # The download (or the check of what it brought) failed: nothing in this answer is believed.
            return untrusted_outcome("alipay_certificate_untrusted"), {}
        node = verified.fields
        outcome = classify_answer(
            operation,
            code=opt_str(node, "code"),
            sub_code=opt_str(node, "sub_code"),
            msg=opt_str(node, "msg"),
            sub_msg=opt_str(node, "sub_msg"),
            signed=verified.signed,
        )
        return outcome, node

    def _verify(self, operation: Operation, response: httpx.Response) -> VerifiedResponse:
        """Verify the answer; an unknown ``alipay_cert_sn`` (certificate mode) costs ONE download, then a retry."""
        content_type = response.headers.get("content-type")
        try:
            return verify_response(response.content, content_type, operation.value, self.credentials)
        except UnknownAlipayCertificateError as unknown:
            if self._rotation is None or not self._rotation.fetch(unknown.sn, now=self._clock()):
                raise
        return verify_response(response.content, content_type, operation.value, self.credentials)
