"""Certificate rotation: a response signed by an Alipay certificate the rail does not hold yet.

JV (``AbstractAlipayClient.checkResponseCertSign``): when a response's ``alipay_cert_sn`` differs from the
held certificate's, call ``alipay.open.app.alipaycert.download`` for that serial, check the certificate
against the root file, then verify with it. Here: ONE download per unknown serial (a lock makes concurrent
calls wait for the first download rather than start their own), the downloaded certificate must be the one
asked for, chain to the configured roots and be valid now, and the download's own answer must verify with a
held certificate or with the downloaded one before the new certificate is kept. Anything else keeps the
keyring as it was and the call's answer stays unverified (UNKNOWN).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

import httpx

from channels.alipay.rail.certificates import CERT_DOWNLOAD_METHOD, CertificateCredentials
from channels.alipay.rail.errors import CertificateError, MalformedResponseError
from channels.alipay.rail.keys import PublicKey
from channels.alipay.rail.responses import charset_from_content_type, decode_body, extract_node, parse_node
from channels.alipay.rail.signed_request import FORM_CONTENT_TYPE, build_signed_request
from channels.alipay.rail.signing import rsa2_verify

log = logging.getLogger(__name__)


class CertificateRotation:
    """Downloads and adopts rotated Alipay certificates for one app; one download at a time."""

    def __init__(self, gateway_url: str, credentials: CertificateCredentials, http: httpx.Client) -> None:
        self._gateway_url = gateway_url
        self._credentials = credentials
        self._http = http
        self._lock = threading.Lock()

    def fetch(self, sn: str, *, now: datetime) -> bool:
        """Make ``sn`` a held, trusted certificate; False (logged, keyring unchanged) when that fails."""
        keyring = self._credentials.mode.alipay
        with self._lock:
            if keyring.get(sn) is not None:  # another call downloaded it while this one waited
                return True
            try:
                self._download(sn, now)
            except (CertificateError, MalformedResponseError) as exc:
                log.warning("alipay certificate %s: download refused: %s", sn[:32], exc)
                return False
            except httpx.HTTPError as exc:
                log.warning("alipay certificate %s: download failed: %s", sn[:32], type(exc).__name__)
                return False
        log.info("alipay certificate rotated to %s", sn[:32])
        return True

    def _download(self, sn: str, now: datetime) -> None:
        credentials = self._credentials
        request = build_signed_request(credentials, CERT_DOWNLOAD_METHOD, {"alipay_cert_sn": sn}, now=now)
        response = self._http.post(
            f"{self._gateway_url}?{request.query_string()}", content=request.form_body(),
            headers={"Content-Type": FORM_CONTENT_TYPE},
        )
        if response.status_code != 200:
            raise MalformedResponseError(f"{CERT_DOWNLOAD_METHOD} answered HTTP {response.status_code}")
        content_type = response.headers.get("content-type")
        raw = extract_node(decode_body(response.content, content_type), CERT_DOWNLOAD_METHOD)
        node = parse_node(raw)
        if node.get("code") != "10000":
            raise CertificateError(
                f"{CERT_DOWNLOAD_METHOD}: Alipay answered {node.get('code')} {str(node.get('sub_code'))[:64]}"
            )
        keyring = credentials.mode.alipay
        downloaded = keyring.check_download(node.get("alipay_cert_content"), expected_sn=sn, now=now)
        # The answer itself must be Alipay's: signed by a held certificate or by the one it carries (which
        # has just been checked against the roots). An unsigned "here is the new certificate" is refused.
        signer = keyring.get(raw.cert_sn) if raw.cert_sn and raw.cert_sn != sn else downloaded
        data = raw.text.encode(charset_from_content_type(content_type))
        if signer is None or not raw.sign or not rsa2_verify(PublicKey(signer.public_key, signer.source), data, raw.sign):
            raise CertificateError(f"{CERT_DOWNLOAD_METHOD}: the answer's signature does not verify")
        keyring.adopt(downloaded)

