"""MerchantService: thin, as the other servicers (decode, call one onboarding use case, encode).

Who may call what is decided here, per method (the interceptor authenticates, and lets both operators and apps
through to this service: SERVICE_PRINCIPALS in gateway/api/interceptor.py): operators call everything; an app
calls GetMerchant and ListMerchants for the merchants it acts for, and ListApps. The management centre is an operator: what it sends as `applicant_account_id` is trusted, and the
audit trail records the applicant with the operator it came through.
"""

from __future__ import annotations

import grpc

from cashier.v1 import merchant_service_pb2 as msvc
from cashier.v1 import merchant_service_pb2_grpc as msvc_grpc
from gateway.api import convert
from gateway.api import onboarding_convert as oc
from gateway.api.idempotency import idempotent
from gateway.api.interceptor import current_principal
from gateway.domain.errors import NotFound, PermissionDenied, Violations
from gateway.domain.merchants import Principal, PrincipalKind
from gateway.domain.onboarding.application import ApplicationState
from gateway.domain.onboarding.audit import Actor, ActorKind
from gateway.service import paging
from gateway.service.admin import AdminService
from gateway.service.idempotency import IdempotencyService
from gateway.service.onboarding import OnboardingService
from gateway.service.ports import IdempotencyRecord

MERCHANT_SERVICE = msvc.DESCRIPTOR.services_by_name["MerchantService"].full_name


def _operator() -> Principal:
    principal = current_principal()
    if principal.kind is not PrincipalKind.OPERATOR:
        raise PermissionDenied(f"{principal.kind.value.lower()} credentials cannot call this method of "
                               "MerchantService; it needs operator credentials", reason="WRONG_CREDENTIALS")
    return principal


def _operator_actor() -> Actor:
    return Actor(ActorKind.OPERATOR, _operator().id)


# Replays of a call whose change committed but whose answer was never stored (see gateway/api/idempotency.py).
def _submitted(servicer: MerchantServicer, request: msvc.SubmitApplicationRequest,
               record: IdempotencyRecord) -> msvc.SubmitApplicationResponse | None:
    view = servicer.onboarding.get_application(record.resource_id or "")
    return msvc.SubmitApplicationResponse(application=oc.application_to_proto(view.application, view.documents))


def _reviewed(servicer: MerchantServicer, request: msvc.ReviewApplicationRequest,
              record: IdempotencyRecord) -> msvc.ReviewApplicationResponse | None:
    view = servicer.onboarding.get_application(record.resource_id or "")
    response = msvc.ReviewApplicationResponse(application=oc.application_to_proto(view.application, view.documents))
    if view.application.state is ApplicationState.APPROVED:
        response.merchant.CopyFrom(convert.merchant_to_proto(servicer.admin.get_merchant(view.application.merchant_id)))
    return response


class MerchantServicer(msvc_grpc.MerchantServiceServicer):
    def __init__(self, onboarding: OnboardingService, admin: AdminService, idempotency: IdempotencyService):
        self.onboarding = onboarding
        self.admin = admin
        self.idempotency = idempotency

    def _applicant(self, application_id: str) -> Actor:
        """The applicant an operator (the management centre) acts for, as the audit trail names it."""
        operator = _operator()
        application = self.onboarding.get_application(application_id).application
        return Actor(ActorKind.APPLICANT, application.form.basic.applicant_account_id, via=operator.id)

    # --- applications -------------------------------------------------------------------------------

    @idempotent(MERCHANT_SERVICE, rebuild=_submitted)
    def SubmitApplication(self, request: msvc.SubmitApplicationRequest,
                          context: grpc.ServicerContext) -> msvc.SubmitApplicationResponse:
        operator = _operator()
        form = oc.form_from(request.application)
        actor = Actor(ActorKind.APPLICANT, form.basic.applicant_account_id, via=operator.id)
        application = self.onboarding.submit(actor, form, field_prefix="application.")
        return msvc.SubmitApplicationResponse(application=oc.application_to_proto(application))

    def GetApplication(self, request: msvc.GetApplicationRequest,
                       context: grpc.ServicerContext) -> msvc.GetApplicationResponse:
        _operator()
        v = Violations()
        application_id = oc.application_id_from(v, "name", request.name)
        v.raise_if_any()
        view = self.onboarding.get_application(application_id)
        return msvc.GetApplicationResponse(application=oc.application_to_proto(view.application, view.documents))

    def ListApplications(self, request: msvc.ListApplicationsRequest,
                         context: grpc.ServicerContext) -> msvc.ListApplicationsResponse:
        _operator()
        page, token = self.onboarding.list_applications(
            state=oc.APPLICATION_STATE_IN.get(request.state), kind=oc.KIND_IN.get(request.kind),
            applicant_account_id=request.applicant_account_id, page_size=request.page_size,
            page_token=request.page_token)
        return msvc.ListApplicationsResponse(applications=[oc.application_to_proto(a) for a in page],
                                             next_page_token=token)

    @idempotent(MERCHANT_SERVICE)
    def UpdateApplication(self, request: msvc.UpdateApplicationRequest,
                          context: grpc.ServicerContext) -> msvc.UpdateApplicationResponse:
        v = Violations()
        application_id = oc.application_id_from(v, "application.name", request.application.name)
        v.raise_if_any()
        actor = self._applicant(application_id)
        application = self.onboarding.update(actor, application_id, oc.form_from(request.application),
                                             field_prefix="application.")
        return msvc.UpdateApplicationResponse(application=oc.application_to_proto(application))

    @idempotent(MERCHANT_SERVICE)
    def WithdrawApplication(self, request: msvc.WithdrawApplicationRequest,
                            context: grpc.ServicerContext) -> msvc.WithdrawApplicationResponse:
        v = Violations()
        application_id = oc.application_id_from(v, "name", request.name)
        v.raise_if_any()
        application = self.onboarding.withdraw(self._applicant(application_id), application_id)
        return msvc.WithdrawApplicationResponse(application=oc.application_to_proto(application))

    @idempotent(MERCHANT_SERVICE, rebuild=_reviewed)
    def ReviewApplication(self, request: msvc.ReviewApplicationRequest,
                          context: grpc.ServicerContext) -> msvc.ReviewApplicationResponse:
        actor = _operator_actor()
        v = Violations()
        application_id = oc.application_id_from(v, "name", request.name)
        v.raise_if_any()
        application, merchant = self.onboarding.review(actor, application_id, oc.DECISION_IN.get(request.decision),
                                                       request.reason)
        response = msvc.ReviewApplicationResponse(application=oc.application_to_proto(application))
        if merchant is not None:
            response.merchant.CopyFrom(convert.merchant_to_proto(merchant))
        return response

    @idempotent(MERCHANT_SERVICE)
    def AddApplicationDocument(self, request: msvc.AddApplicationDocumentRequest,
                               context: grpc.ServicerContext) -> msvc.AddApplicationDocumentResponse:
        v = Violations()
        application_id = oc.application_id_from(v, "parent", request.parent)
        v.raise_if_any()
        document = self.onboarding.add_document(self._applicant(application_id), application_id, request.content)
        return msvc.AddApplicationDocumentResponse(document=oc.document_to_proto(document))

    def GetApplicationDocument(self, request: msvc.GetApplicationDocumentRequest,
                               context: grpc.ServicerContext) -> msvc.GetApplicationDocumentResponse:
        actor = _operator_actor()
        v = Violations()
        application_id, sha256 = oc.document_name_parts(v, "name", request.name)
        v.raise_if_any()
        document = self.onboarding.read_document(actor, application_id, sha256)
        return msvc.GetApplicationDocumentResponse(document=oc.document_to_proto(document),
                                                   content=document.content or b"")

    # --- merchants ----------------------------------------------------------------------------------

    def GetMerchant(self, request: msvc.GetMerchantRequest, context: grpc.ServicerContext) -> msvc.GetMerchantResponse:
        principal = current_principal()
        v = Violations()
        merchant_id = convert.merchant_id_from(v, "name", request.name)
        v.raise_if_any()
        if principal.kind is PrincipalKind.APP and not principal.acts_for(merchant_id):
            # The same answer as for a merchant that does not exist: an app learns nothing of others.
            raise NotFound(f"merchant {merchant_id} does not exist", reason="MERCHANT_NOT_FOUND")
        return msvc.GetMerchantResponse(merchant=convert.merchant_to_proto(self.admin.get_merchant(merchant_id)))

    def ListMerchants(self, request: msvc.ListMerchantsRequest,
                      context: grpc.ServicerContext) -> msvc.ListMerchantsResponse:
        principal = current_principal()
        if principal.kind is PrincipalKind.OPERATOR:
            merchants, token = self.admin.list_merchants(request.page_size, request.page_token)
        else:
            size = paging.page_size(request.page_size)
            after = paging.decode_token(request.page_token, "merchants")
            ids = sorted(m for m in principal.merchant_ids if after is None or m > after)
            merchants = [self.admin.get_merchant(m) for m in ids[:size]]
            token = paging.encode_token(ids[size - 1], "merchants") if len(ids) > size else ""
        return msvc.ListMerchantsResponse(merchants=[convert.merchant_to_proto(m) for m in merchants],
                                         next_page_token=token)

    # --- payout-account verification ----------------------------------------------------------------

    @idempotent(MERCHANT_SERVICE)
    def StartAccountVerification(self, request: msvc.StartAccountVerificationRequest,
                                 context: grpc.ServicerContext) -> msvc.StartAccountVerificationResponse:
        v = Violations()
        application_id = oc.application_id_from(v, "name", request.name)
        v.raise_if_any()
        attempt = self.onboarding.start_verification(self._applicant(application_id), application_id)
        return msvc.StartAccountVerificationResponse(attempt=oc.attempt_to_proto(attempt))

    @idempotent(MERCHANT_SERVICE)
    def ConfirmAccountVerification(self, request: msvc.ConfirmAccountVerificationRequest,
                                   context: grpc.ServicerContext) -> msvc.ConfirmAccountVerificationResponse:
        v = Violations()
        application_id = oc.application_id_from(v, "name", request.name)
        v.raise_if_any()
        application, attempt = self.onboarding.confirm_verification(self._applicant(application_id),
                                                                    application_id, request.amount)
        return msvc.ConfirmAccountVerificationResponse(application=oc.application_to_proto(application),
                                                       attempt=oc.attempt_to_proto(attempt))

    # --- settlement plans and deposits --------------------------------------------------------------

    def GetSettlementSchedule(self, request: msvc.GetSettlementScheduleRequest,
                              context: grpc.ServicerContext) -> msvc.GetSettlementScheduleResponse:
        _operator()
        v = Violations()
        merchant_id = oc.schedule_merchant_from(v, "name", request.name)
        v.raise_if_any()
        return msvc.GetSettlementScheduleResponse(schedule=oc.schedule_to_proto(self.onboarding.schedule(merchant_id)))

    @idempotent(MERCHANT_SERVICE, scope="merchant")
    def SetSettlementPlan(self, request: msvc.SetSettlementPlanRequest,
                          context: grpc.ServicerContext) -> msvc.SetSettlementPlanResponse:
        actor = _operator_actor()
        v = Violations()
        merchant_id = convert.merchant_id_from(v, "merchant", request.merchant)
        plan = convert.PLAN_IN.get(request.plan)
        if plan is None:
            v.add("plan", "required: SETTLEMENT_PLAN_T15 or SETTLEMENT_PLAN_T0")
        v.raise_if_any()
        schedule = self.onboarding.set_plan(actor, merchant_id, plan)
        return msvc.SetSettlementPlanResponse(schedule=oc.schedule_to_proto(schedule))

    @idempotent(MERCHANT_SERVICE, scope="parent")
    def RecordDeposit(self, request: msvc.RecordDepositRequest,
                      context: grpc.ServicerContext) -> msvc.RecordDepositResponse:
        actor = _operator_actor()
        v = Violations()
        merchant_id = convert.merchant_id_from(v, "parent", request.parent)
        v.raise_if_any()
        deposit = self.onboarding.record_deposit(actor, merchant_id, request.amount, request.external_reference,
                                                 request.currency_code or "CNY")
        return msvc.RecordDepositResponse(deposit=oc.deposit_to_proto(deposit))

    def ListDeposits(self, request: msvc.ListDepositsRequest,
                     context: grpc.ServicerContext) -> msvc.ListDepositsResponse:
        _operator()
        v = Violations()
        merchant_id = convert.merchant_id_from(v, "parent", request.parent)
        v.raise_if_any()
        size = paging.page_size(request.page_size)
        after = paging.decode_token(request.page_token, ("deposits", merchant_id))
        deposits = [d for d in self.onboarding.list_deposits(merchant_id) if after is None or d.id < after]
        page = deposits[:size]
        token = paging.encode_token(page[-1].id, ("deposits", merchant_id)) if len(deposits) > size else ""
        return msvc.ListDepositsResponse(deposits=[oc.deposit_to_proto(d) for d in page], next_page_token=token)

    @idempotent(MERCHANT_SERVICE, scope="name")
    def ReleaseDeposit(self, request: msvc.ReleaseDepositRequest,
                       context: grpc.ServicerContext) -> msvc.ReleaseDepositResponse:
        actor = _operator_actor()
        v = Violations()
        merchant_id, deposit_id = oc.deposit_name_parts(v, "name", request.name)
        v.raise_if_any()
        deposit, schedule = self.onboarding.release_deposit(actor, merchant_id, deposit_id)
        return msvc.ReleaseDepositResponse(deposit=oc.deposit_to_proto(deposit),
                                           schedule=oc.schedule_to_proto(schedule))

    # --- the application square and authorisations --------------------------------------------------

    def ListApps(self, request: msvc.ListAppsRequest, context: grpc.ServicerContext) -> msvc.ListAppsResponse:
        page, token = self.onboarding.list_square(request.page_size, request.page_token)
        return msvc.ListAppsResponse(apps=[oc.square_app_to_proto(a) for a in page], next_page_token=token)

    @idempotent(MERCHANT_SERVICE, scope="parent")
    def AuthorizeApp(self, request: msvc.AuthorizeAppRequest,
                     context: grpc.ServicerContext) -> msvc.AuthorizeAppResponse:
        actor = _operator_actor()
        v = Violations()
        merchant_id = convert.merchant_id_from(v, "parent", request.parent)
        app_id = oc.app_id_from(v, "app", request.app)
        v.raise_if_any()
        authorization = self.onboarding.authorize_app(actor, merchant_id, app_id)
        return msvc.AuthorizeAppResponse(authorization=oc.authorization_to_proto(authorization))

    @idempotent(MERCHANT_SERVICE, scope="name")
    def RevokeApp(self, request: msvc.RevokeAppRequest, context: grpc.ServicerContext) -> msvc.RevokeAppResponse:
        actor = _operator_actor()
        v = Violations()
        merchant_id, app_id = oc.authorization_name_parts(v, "name", request.name)
        v.raise_if_any()
        self.onboarding.revoke_app(actor, merchant_id, app_id)
        return msvc.RevokeAppResponse()

    # --- the audit trail ----------------------------------------------------------------------------

    def ListAuditEvents(self, request: msvc.ListAuditEventsRequest,
                        context: grpc.ServicerContext) -> msvc.ListAuditEventsResponse:
        _operator()
        v = Violations()
        application_id = oc.application_id_from(v, "application", request.application) if request.application else ""
        merchant_id = convert.merchant_id_from(v, "merchant", request.merchant) if request.merchant else ""
        v.raise_if_any()
        page, token = self.onboarding.list_audit(application_id=application_id, merchant_id=merchant_id,
                                                 page_size=request.page_size, page_token=request.page_token)
        return msvc.ListAuditEventsResponse(audit_events=[oc.audit_to_proto(e) for e in page], next_page_token=token)
