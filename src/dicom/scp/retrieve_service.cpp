// C-MOVE and C-GET as SCP. Both are one retrieve: the same identifier, access check, audit,
// pending responses with sub-operation counts and final status; they differ only in where the
// C-STOREs go (a new association to the move destination, or back over this one).

#include <dcmtk/dcmdata/dcdeftag.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <optional>

#include "dicom/scp/services.h"
#include "dicom/transcode.h"

namespace dxhub::dicom::scp {
namespace {

struct MoveKind {
  using Request = T_DIMSE_C_MoveRQ;
  using Response = T_DIMSE_C_MoveRSP;
  static constexpr const char* kService = "C-MOVE";
  static constexpr unsigned kOpts =
      O_MOVE_AFFECTEDSOPCLASSUID | O_MOVE_NUMBEROFREMAININGSUBOPERATIONS |
      O_MOVE_NUMBEROFCOMPLETEDSUBOPERATIONS | O_MOVE_NUMBEROFFAILEDSUBOPERATIONS |
      O_MOVE_NUMBEROFWARNINGSUBOPERATIONS;
  static OFCondition Send(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                          const Request* req, Response* rsp, DcmDataset* list, DcmDataset* detail) {
    return DIMSE_sendMoveResponse(assoc, pres_id, req, rsp, list, detail);
  }
};

struct GetKind {
  using Request = T_DIMSE_C_GetRQ;
  using Response = T_DIMSE_C_GetRSP;
  static constexpr const char* kService = "C-GET";
  static constexpr unsigned kOpts =
      O_GET_AFFECTEDSOPCLASSUID | O_GET_NUMBEROFREMAININGSUBOPERATIONS |
      O_GET_NUMBEROFCOMPLETEDSUBOPERATIONS | O_GET_NUMBEROFFAILEDSUBOPERATIONS |
      O_GET_NUMBEROFWARNINGSUBOPERATIONS;
  static OFCondition Send(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                          const Request* req, Response* rsp, DcmDataset* list, DcmDataset* detail) {
    return DIMSE_sendGetResponse(assoc, pres_id, req, rsp, list, detail);
  }
};

// The final status of a retrieve (PS3.4 C.4.2.1.5/C.4.3.1.4): cancelled, all failed, some
// failed, or success. The MOVE and GET codes are the same numbers.
Uint16 FinalStatus(const SendResult& sent, int total) {
  if (sent.cancelled)
    return STATUS_MOVE_Cancel_SubOperationsTerminatedDueToCancelIndication;
  if (total > 0 && sent.failed == total)
    return STATUS_MOVE_Refused_OutOfResourcesSubOperations;  // 0xA702: none could be sent
  if (sent.failed > 0 || sent.warning > 0)
    return STATUS_MOVE_Warning_SubOperationsCompleteOneOrMoreFailures;
  return STATUS_MOVE_Success_SubOperationsCompleteNoFailures;
}

int Done(const SendResult& sent) {
  return sent.completed + sent.failed + sent.warning;
}

// One C-MOVE or C-GET request, from its identifier to its final response.
template <class Kind>
class Retrieve {
 public:
  Retrieve(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
           const typename Kind::Request& req)
      : ctx_(ctx), pres_id_(pres_id), req_(req) {}

  /// Receives the identifier and checks that the caller may retrieve. False when the request
  /// has been answered (or the association broke): return cond() then.
  bool Authorize() {
    cond_ = ReceiveQuery(ctx_, pres_id_, req_.AffectedSOPClassUID, received_);
    if (cond_.bad())
      return false;
    if (received_.failure != 0) {
      Refuse(received_.failure, received_.comment);
      return false;
    }
    if (!ctx_.caller.may_query) {
      spdlog::warn("dicom: {} from '{}' ({}) refused: not a query/retrieve peer", Kind::kService,
                   ctx_.caller.aet, ctx_.caller.ip);
      Audit(ctx_, Kind::kService, received_.query, kNotAQueryPeer);
      Refuse(kNotAuthorized, "calling AE/address may not retrieve");
      return false;
    }
    return true;
  }

  /// The instances to send, audited as "<audit_prefix><studies>"; nullopt when the request
  /// has been answered.
  std::optional<std::vector<OutgoingInstance>> Resolve(MoveHandler& handler,
                                                       const std::string& audit_prefix) {
    auto instances = handler.Resolve(received_.query);
    if (!instances.ok()) {
      Audit(ctx_, Kind::kService, received_.query, "failed: " + instances.error().message);
      Refuse(instances.error().DicomStatus(), instances.error().message);
      return std::nullopt;
    }
    if (!Audit(ctx_, Kind::kService, received_.query, audit_prefix + DescribeStudies(*instances))) {
      Refuse(STATUS_MOVE_Refused_OutOfResourcesSubOperations, "audit log unavailable");
      return std::nullopt;
    }
    total_ = static_cast<int>(instances->size());
    return std::move(instances.value());
  }

  /// Answers with a failure status and no sub-operation counts.
  OFCondition Refuse(Uint16 status, const std::string& comment) {
    cond_ = Respond(status, {}, 0, comment);
    return cond_;
  }

  /// A pending response after a sub-operation, unless it was the last.
  OFCondition Pending(const SendResult& sent) {
    if (Done(sent) >= total_)
      return EC_Normal;
    return Respond(STATUS_MOVE_Pending_SubOperationsAreContinuing, sent, total_ - Done(sent), "");
  }

  /// The final response: success, warning, all failed or cancelled.
  OFCondition Finish(const SendResult& sent, const std::string& where) {
    spdlog::info("dicom: {} from '{}'{}: {} sent, {} failed{}", Kind::kService, ctx_.caller.aet,
                 where, sent.completed + sent.warning, sent.failed,
                 sent.cancelled ? ", cancelled" : "");
    return Respond(FinalStatus(sent, total_), sent, total_ - Done(sent), "");
  }

  bool CancelRequested() const {
    return DIMSE_checkForCancelRQ(ctx_.assoc, pres_id_, req_.MessageID).good();
  }

  const OFCondition& cond() const { return cond_; }

 private:
  OFCondition Respond(Uint16 status, const SendResult& counts, int remaining,
                      const std::string& comment) {
    typename Kind::Response rsp{};
    rsp.MessageIDBeingRespondedTo = req_.MessageID;
    rsp.DimseStatus = status;
    OFStandard::strlcpy(rsp.AffectedSOPClassUID, req_.AffectedSOPClassUID,
                        sizeof rsp.AffectedSOPClassUID);
    rsp.NumberOfRemainingSubOperations = static_cast<DIC_US>(remaining);
    rsp.NumberOfCompletedSubOperations = static_cast<DIC_US>(counts.completed);
    rsp.NumberOfFailedSubOperations = static_cast<DIC_US>(counts.failed);
    rsp.NumberOfWarningSubOperations = static_cast<DIC_US>(counts.warning);
    rsp.opts = Kind::kOpts;
    std::unique_ptr<DcmDataset> failed_list = FailedList(counts, status);
    rsp.DataSetType = failed_list ? DIMSE_DATASET_PRESENT : DIMSE_DATASET_NULL;
    std::unique_ptr<DcmDataset> detail = CommentDetail(comment);
    return Kind::Send(ctx_.assoc, pres_id_, &req_, &rsp, failed_list.get(), detail.get());
  }

  // The Failed SOP Instance UID List of a final response, or null.
  static std::unique_ptr<DcmDataset> FailedList(const SendResult& counts, Uint16 status) {
    if (counts.failed_uids.empty() || status == STATUS_MOVE_Pending_SubOperationsAreContinuing)
      return nullptr;
    std::string joined;
    for (const auto& uid : counts.failed_uids) {
      if (!joined.empty())
        joined += '\\';
      joined += uid;
    }
    auto list = std::make_unique<DcmDataset>();
    list->putAndInsertString(DCM_FailedSOPInstanceUIDList, joined.c_str());
    return list;
  }

  ServiceContext& ctx_;
  T_ASC_PresentationContextID pres_id_;
  const typename Kind::Request& req_;
  ReceivedQuery received_;
  OFCondition cond_ = EC_Normal;
  int total_ = 0;
};

// The accepted storage context on which we may send `instance` to a C-GET requestor (which
// took the SCP role for its SOP class): the stored encoding if accepted, else an uncompressed
// one, which means decoding (`decode`). 0 when there is none.
T_ASC_PresentationContextID ContextForGet(T_ASC_Association* assoc,
                                          const OutgoingInstance& instance, bool& decode) {
  T_ASC_PresentationContextID fallback = 0;
  const int count = ASC_countAcceptedPresentationContexts(assoc->params);
  for (int i = 0; i < ASC_countPresentationContexts(assoc->params) && count > 0; ++i) {
    T_ASC_PresentationContext pc;
    if (ASC_getPresentationContext(assoc->params, i, &pc).bad() ||
        pc.resultReason != ASC_P_ACCEPTANCE || instance.sop_class_uid != pc.abstractSyntax ||
        (pc.acceptedRole != ASC_SC_ROLE_SCP && pc.acceptedRole != ASC_SC_ROLE_SCUSCP)) {
      continue;
    }
    if (instance.transfer_syntax_uid == pc.acceptedTransferSyntax) {
      decode = false;
      return pc.presentationContextID;
    }
    if (fallback == 0 && IsUncompressedSyntax(pc.acceptedTransferSyntax))
      fallback = pc.presentationContextID;
  }
  decode = fallback != 0 && !IsUncompressedSyntax(instance.transfer_syntax_uid);
  return fallback;
}

// One C-STORE sub-operation of a C-GET, counted into `sent`. A bad condition means the
// association broke; `cancelled` that a C-CANCEL arrived while it ran.
OFCondition StoreSubOperation(ServiceContext& ctx, const OutgoingInstance& instance,
                              SendResult& sent, bool& cancelled) {
  auto fail = [&](const std::string& why) {
    ++sent.failed;
    sent.failed_uids.push_back(instance.sop_instance_uid);
    spdlog::warn("dicom: C-GET sub-operation {} for '{}' failed: {}", instance.sop_instance_uid,
                 ctx.caller.aet, why);
    return EC_Normal;
  };
  bool decode = false;
  const T_ASC_PresentationContextID pc = ContextForGet(ctx.assoc, instance, decode);
  if (pc == 0)
    return fail("no storage context with the SCP role for its SOP class and encoding");
  std::unique_ptr<DcmFileFormat> decoded;
  if (decode) {
    auto loaded = LoadDecompressed(instance.path);
    if (!loaded.ok())
      return fail(loaded.error().message);
    decoded = std::move(loaded.value());
  }
  T_DIMSE_C_StoreRQ store{};
  store.MessageID = ctx.assoc->nextMsgID++;
  OFStandard::strlcpy(store.AffectedSOPClassUID, instance.sop_class_uid.c_str(),
                      sizeof store.AffectedSOPClassUID);
  OFStandard::strlcpy(store.AffectedSOPInstanceUID, instance.sop_instance_uid.c_str(),
                      sizeof store.AffectedSOPInstanceUID);
  store.Priority = DIMSE_PRIORITY_MEDIUM;
  store.DataSetType = DIMSE_DATASET_PRESENT;
  T_DIMSE_C_StoreRSP rsp{};
  DcmDataset* raw_detail = nullptr;
  T_DIMSE_DetectedCancelParameters cancel{};
  OFCondition cond =
      DIMSE_storeUser(ctx.assoc, pc, &store, decoded ? nullptr : instance.path.c_str(),
                      decoded ? decoded->getDataset() : nullptr, nullptr, nullptr,
                      DIMSE_NONBLOCKING, ctx.options.dimse_timeout_s, &rsp, &raw_detail, &cancel);
  std::unique_ptr<DcmDataset> detail(raw_detail);
  cancelled = cancel.cancelEncountered != OFFalse;
  if (cond.bad()) {
    fail(cond.text());
    return cond;
  }
  if (rsp.DimseStatus == STATUS_Success) {
    ++sent.completed;
  } else if ((rsp.DimseStatus & 0xF000) == 0xB000) {
    ++sent.warning;
  } else {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%04x", rsp.DimseStatus);
    fail(std::string("requestor answered ") + hex);
  }
  return EC_Normal;
}

}  // namespace

OFCondition ServeMove(ServiceContext& ctx, MoveHandler& handler,
                      T_ASC_PresentationContextID pres_id, const T_DIMSE_C_MoveRQ& req) {
  Retrieve<MoveKind> retrieve(ctx, pres_id, req);
  if (!retrieve.Authorize())
    return retrieve.cond();
  const std::string destination_aet = req.MoveDestination;
  auto destination = handler.Destination(destination_aet);
  if (!destination) {
    spdlog::warn("dicom: C-MOVE from '{}' to unknown destination '{}'", ctx.caller.aet,
                 destination_aet);
    return retrieve.Refuse(STATUS_MOVE_Refused_MoveDestinationUnknown, "move destination unknown");
  }
  auto instances = retrieve.Resolve(handler, "to " + destination_aet + ": ");
  if (!instances)
    return retrieve.cond();
  auto sent = SendInstances(
      *destination, ctx.options.aet, *instances,
      [&](const SendResult& progress) {
        if (retrieve.CancelRequested())
          return false;
        retrieve.Pending(progress);
        return true;
      },
      ctx.caller.aet, req.MessageID);
  if (!sent.ok()) {
    spdlog::warn("dicom: C-MOVE to '{}': {}", destination_aet, sent.error().message);
    return retrieve.Refuse(STATUS_MOVE_Refused_OutOfResourcesSubOperations, sent.error().message);
  }
  return retrieve.Finish(*sent, " to '" + destination_aet + "'");
}

OFCondition ServeGet(ServiceContext& ctx, MoveHandler& handler, T_ASC_PresentationContextID pres_id,
                     const T_DIMSE_C_GetRQ& req) {
  Retrieve<GetKind> retrieve(ctx, pres_id, req);
  if (!retrieve.Authorize())
    return retrieve.cond();
  auto instances = retrieve.Resolve(handler, "sending ");
  if (!instances)
    return retrieve.cond();
  SendResult sent;
  for (const auto& instance : *instances) {
    if (retrieve.CancelRequested()) {
      sent.cancelled = true;
      break;
    }
    bool cancelled = false;
    OFCondition cond = StoreSubOperation(ctx, instance, sent, cancelled);
    if (cond.bad())
      return cond;  // the association is gone
    if (cancelled) {
      sent.cancelled = true;
      break;
    }
    cond = retrieve.Pending(sent);
    if (cond.bad())
      return cond;
  }
  return retrieve.Finish(sent, "");
}

}  // namespace dxhub::dicom::scp
