#include "dicom/store_scu.h"

#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/scu.h>
#include <dcmtk/dcmtls/tlsscu.h>
#include <spdlog/spdlog.h>

#include <set>
#include <utility>

#include "dicom/transcode.h"

namespace dxhub::dicom {
namespace {

// A plain SCU, or a TLS one (BCP 195 non-downgrading, the peer's certificate checked against
// the node's CA file, dxhub's own certificate offered when configured) for a node marked tls.
std::unique_ptr<DcmSCU> MakeScu(const RemoteNode& node) {
  if (!node.tls)
    return std::make_unique<DcmSCU>();
  auto scu = std::make_unique<DcmTLSSCU>();
  (void)scu->setTLSProfile(TSP_Profile_BCP195_ND);
  if (!node.ca_file.empty())
    scu->addTrustedCertFile(node.ca_file);
  scu->setPeerCertVerification(DCV_requireCertificate);
  if (!node.client_cert.empty())
    scu->enableAuthentication(node.client_key, node.client_cert);
  return scu;
}

}  // namespace

Result<SendResult> SendInstances(const RemoteNode& node, const std::string& calling_aet,
                                 const std::vector<OutgoingInstance>& instances,
                                 const std::function<bool(const SendResult&)>& progress,
                                 const std::string& move_originator, uint16_t move_message_id) {
  SendResult result;
  if (instances.empty())
    return result;
  std::unique_ptr<DcmSCU> scu_ptr = MakeScu(node);
  DcmSCU& scu = *scu_ptr;
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
    // The stored encoding first; uncompressed as the fallback every node accepts (compressed
    // data is then decoded before sending).
    OFList<OFString> syntaxes;
    syntaxes.push_back(in.transfer_syntax_uid.c_str());
    for (const char* ts :
         {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax}) {
      if (in.transfer_syntax_uid != ts)
        syntaxes.push_back(ts);
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
    bool decode = false;
    for (const char* ts :
         {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax}) {
      if (pc == 0) {
        pc = scu.findPresentationContextID(in.sop_class_uid, ts);
        decode = pc != 0 && !IsUncompressedSyntax(in.transfer_syntax_uid);
      }
    }
    Uint16 status = 0xFFFF;
    if (pc != 0 && decode) {
      auto decoded = LoadDecompressed(in.path);
      if (decoded.ok()) {
        cond = scu.sendSTORERequest(pc, OFFilename(), (*decoded)->getDataset(), status,
                                    move_originator, move_message_id);
      } else {
        spdlog::warn("dicom: {} cannot be decoded for {}: {}", in.sop_instance_uid, node.aet,
                     decoded.error().message);
      }
    } else if (pc != 0) {
      cond = scu.sendSTORERequest(pc, OFFilename(in.path.c_str()), nullptr, status, move_originator,
                                  move_message_id);
    }
    if (pc == 0 || cond.bad() || (status != 0 && (status & 0xF000) != 0xB000)) {
      ++result.failed;
      result.failed_uids.push_back(in.sop_instance_uid);
      spdlog::warn("dicom: C-STORE of {} to {} failed (status 0x{:04x}{}{})", in.sop_instance_uid,
                   node.aet, status, pc == 0 ? ", not negotiated" : "",
                   pc != 0 && cond.bad() ? std::string(": ") + cond.text() : std::string());
    } else if (status != 0) {
      ++result.warning;
    } else {
      ++result.completed;
    }
    if (progress && !progress(result)) {
      result.cancelled = true;
      break;
    }
    if (cond.bad() && !scu.isConnected())
      break;  // the association is gone; the rest cannot be sent
  }
  int sent = result.completed + result.failed + result.warning;
  for (size_t i = static_cast<size_t>(sent); !result.cancelled && i < instances.size(); ++i) {
    ++result.failed;
    result.failed_uids.push_back(instances[i].sop_instance_uid);
  }
  if (scu.isConnected())
    scu.releaseAssociation();
  return result;
}

Status Echo(const RemoteNode& node, const std::string& calling_aet, int timeout_s) {
  std::unique_ptr<DcmSCU> scu_ptr = MakeScu(node);
  DcmSCU& scu = *scu_ptr;
  scu.setAETitle(calling_aet);
  scu.setPeerAETitle(node.aet);
  scu.setPeerHostName(node.host);
  scu.setPeerPort(static_cast<Uint16>(node.port));
  scu.setACSETimeout(static_cast<Uint32>(timeout_s));
  scu.setConnectionTimeout(timeout_s);
  scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  scu.setDIMSETimeout(static_cast<Uint32>(timeout_s));
  OFList<OFString> syntaxes;
  syntaxes.push_back(UID_LittleEndianImplicitTransferSyntax);
  scu.addPresentationContext(UID_VerificationSOPClass, syntaxes);
  const std::string where = node.aet + "@" + node.host + ":" + std::to_string(node.port);
  OFCondition cond = scu.initNetwork();
  if (cond.good())
    cond = scu.negotiateAssociation();
  if (cond.bad())
    return MakeError(ErrorCode::kUnavailable,
                     "cannot associate with " + where + ": " + cond.text());
  cond = scu.sendECHORequest(0);
  scu.releaseAssociation();
  if (cond.bad())
    return MakeError(ErrorCode::kUnavailable, "C-ECHO to " + where + " failed: " + cond.text());
  return Ok();
}

}  // namespace dxhub::dicom
