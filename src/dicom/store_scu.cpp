#include "dicom/store_scu.h"

#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/scu.h>
#include <spdlog/spdlog.h>

#include <set>
#include <utility>

namespace dxhub::dicom {
namespace {

bool Uncompressed(const std::string& ts) {
  return ts == UID_LittleEndianExplicitTransferSyntax ||
         ts == UID_LittleEndianImplicitTransferSyntax || ts == UID_BigEndianExplicitTransferSyntax;
}

}  // namespace

Result<SendResult> SendInstances(const RemoteNode& node, const std::string& calling_aet,
                                 const std::vector<OutgoingInstance>& instances,
                                 const std::function<void(const SendResult&)>& progress,
                                 const std::string& move_originator, uint16_t move_message_id) {
  SendResult result;
  if (instances.empty())
    return result;
  DcmSCU scu;
  scu.setAETitle(calling_aet);
  scu.setPeerAETitle(node.aet);
  scu.setPeerHostName(node.host);
  scu.setPeerPort(static_cast<Uint16>(node.port));
  scu.setACSETimeout(30);
  scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  scu.setDIMSETimeout(60);
  std::set<std::pair<std::string, std::string>> proposed;
  for (const auto& in : instances) {
    if (!proposed.insert({in.sop_class_uid, in.transfer_syntax_uid}).second)
      continue;
    OFList<OFString> syntaxes;
    syntaxes.push_back(in.transfer_syntax_uid.c_str());
    if (Uncompressed(in.transfer_syntax_uid)) {
      syntaxes.push_back(UID_LittleEndianExplicitTransferSyntax);
      syntaxes.push_back(UID_LittleEndianImplicitTransferSyntax);
    }
    if (scu.addPresentationContext(in.sop_class_uid, syntaxes).bad() || proposed.size() > 127) {
      return MakeError(ErrorCode::kUnsupported, "too many kinds of instance for one association");
    }
  }
  OFCondition cond = scu.initNetwork();
  if (cond.good())
    cond = scu.negotiateAssociation();
  if (cond.bad()) {
    return MakeError(ErrorCode::kUnavailable, "cannot associate with " + node.aet + "@" +
                                                  node.host + ":" + std::to_string(node.port) +
                                                  ": " + cond.text());
  }
  for (const auto& in : instances) {
    T_ASC_PresentationContextID pc =
        scu.findPresentationContextID(in.sop_class_uid, in.transfer_syntax_uid);
    if (pc == 0 && Uncompressed(in.transfer_syntax_uid)) {
      pc = scu.findAnyPresentationContextID(in.sop_class_uid, "");
    }
    Uint16 status = 0xFFFF;
    if (pc != 0) {
      cond = scu.sendSTORERequest(pc, OFFilename(in.path.c_str()), nullptr, status, move_originator,
                                  move_message_id);
    }
    if (pc == 0 || cond.bad() || (status != 0 && (status & 0xF000) != 0xB000)) {
      ++result.failed;
      result.failed_uids.push_back(in.sop_instance_uid);
      spdlog::warn("dicom: C-STORE of {} to {} failed (status 0x{:04x}{})", in.sop_instance_uid,
                   node.aet, status, pc == 0 ? ", not negotiated" : "");
    } else if (status != 0) {
      ++result.warning;
    } else {
      ++result.completed;
    }
    if (progress)
      progress(result);
    if (cond.bad() && !scu.isConnected())
      break;  // the association is gone; the rest cannot be sent
  }
  int sent = result.completed + result.failed + result.warning;
  for (size_t i = static_cast<size_t>(sent); i < instances.size(); ++i) {
    ++result.failed;
    result.failed_uids.push_back(instances[i].sop_instance_uid);
  }
  if (scu.isConnected())
    scu.releaseAssociation();
  return result;
}

}  // namespace dxhub::dicom
