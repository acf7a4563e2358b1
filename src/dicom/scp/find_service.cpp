// C-FIND as SCP: only configured query peers (AE title and address together) get matches, and
// every query, answered or refused, is audited before a match leaves.

#include <dcmtk/dcmdata/dcdeftag.h>
#include <spdlog/spdlog.h>

#include "dicom/scp/services.h"

namespace dxhub::dicom::scp {
namespace {

OFCondition Respond(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                    const T_DIMSE_C_FindRQ& req, Uint16 status, DcmDataset* identifier,
                    const std::string& comment) {
  T_DIMSE_C_FindRSP rsp{};
  rsp.MessageIDBeingRespondedTo = req.MessageID;
  rsp.DimseStatus = status;
  rsp.DataSetType = identifier != nullptr ? DIMSE_DATASET_PRESENT : DIMSE_DATASET_NULL;
  OFStandard::strlcpy(rsp.AffectedSOPClassUID, req.AffectedSOPClassUID,
                      sizeof rsp.AffectedSOPClassUID);
  rsp.opts = O_FIND_AFFECTEDSOPCLASSUID;
  std::unique_ptr<DcmDataset> detail = CommentDetail(comment);
  return DIMSE_sendFindResponse(ctx.assoc, pres_id, &req, &rsp, identifier, detail.get());
}

}  // namespace

OFCondition ServeFind(ServiceContext& ctx, FindHandler& handler,
                      T_ASC_PresentationContextID pres_id, const T_DIMSE_C_FindRQ& req) {
  ReceivedQuery received;
  OFCondition cond = ReceiveQuery(ctx, pres_id, req.AffectedSOPClassUID, received);
  if (cond.bad())
    return cond;
  const FindQuery& query = received.query;
  if (received.failure == 0 && !ctx.caller.may_query) {
    spdlog::warn("dicom: C-FIND from '{}' ({}) refused: not a query/retrieve peer", ctx.caller.aet,
                 ctx.caller.ip);
    Audit(ctx, "C-FIND", query, kNotAQueryPeer);
    received.failure = kNotAuthorized;
    received.comment = "calling AE/address may not query";
  }
  std::vector<FindMatch> matches;
  if (received.failure == 0) {
    auto found = handler.Find(query);
    if (found.ok()) {
      matches = std::move(found.value());
      if (!Audit(ctx, "C-FIND", query, DescribeMatches(matches))) {
        matches.clear();
        received.failure = STATUS_FIND_Refused_OutOfResources;
        received.comment = "audit log unavailable";
      }
    } else {
      received.failure = found.error().DicomStatus();
      received.comment = found.error().message;
      Audit(ctx, "C-FIND", query, "failed: " + found.error().message);
      spdlog::warn("dicom: C-FIND from '{}' refused: {}", ctx.caller.aet, found.error().ToString());
    }
  }
  for (const auto& match : matches) {
    if (DIMSE_checkForCancelRQ(ctx.assoc, pres_id, req.MessageID).good())
      return Respond(ctx, pres_id, req, STATUS_FIND_Cancel, nullptr, "");
    DcmDataset answer;
    answer.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
    answer.putAndInsertString(DCM_QueryRetrieveLevel, query.level.c_str());
    for (const auto& [tag, value] : match) {
      answer.putAndInsertString(
          DcmTag(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xFFFF)), value.c_str());
    }
    cond = Respond(ctx, pres_id, req, STATUS_FIND_Pending_MatchesAreContinuing, &answer, "");
    if (cond.bad())
      return cond;
  }
  if (received.failure != 0)
    return Respond(ctx, pres_id, req, received.failure, nullptr, received.comment);
  spdlog::debug("dicom: C-FIND {} from '{}': {} matches", query.level, ctx.caller.aet,
                matches.size());
  return Respond(ctx, pres_id, req, STATUS_FIND_Success, nullptr, "");
}

}  // namespace dxhub::dicom::scp
