#include "dicom/scp/negotiation.h"

#include <dcmtk/dcmdata/dcuid.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "dicom/scp/transport.h"

namespace dxhub::dicom {
namespace {

// Preference order: the encodings modalities send compressed first, so that when an SCU offers
// both its compressed form and an uncompressed fallback the archive keeps what the modality made.
const std::vector<std::string> kTransferSyntaxes = {
    UID_JPEG2000LosslessOnlyTransferSyntax,
    UID_JPEG2000TransferSyntax,
    UID_JPEGLSLosslessTransferSyntax,
    UID_JPEGLSLossyTransferSyntax,
    UID_JPEGProcess14SV1TransferSyntax,
    UID_JPEGProcess14TransferSyntax,
    UID_JPEGProcess1TransferSyntax,
    UID_JPEGProcess2_4TransferSyntax,
    UID_RLELosslessTransferSyntax,
    UID_DeflatedExplicitVRLittleEndianTransferSyntax,
    UID_MPEG2MainProfileAtMainLevelTransferSyntax,
    UID_MPEG4HighProfileLevel4_1TransferSyntax,
    UID_LittleEndianExplicitTransferSyntax,
    UID_LittleEndianImplicitTransferSyntax,
    UID_BigEndianExplicitTransferSyntax,
};

// Verification, FIND, MOVE and GET carry no pixel data: the three uncompressed syntaxes.
std::vector<const char*> CommandSyntaxes() {
  std::vector<const char*> out;
  for (const auto& ts : AcceptedCommandTransferSyntaxes())
    out.push_back(ts.c_str());
  return out;
}

// Accepts the storage contexts with the role the requestor proposed: the default (it sends us
// C-STOREs) or SCP (a C-GET client receiving them), choosing our most preferred transfer syntax
// among those proposed.
OFCondition AcceptStorageContexts(T_ASC_Parameters* params) {
  const int count = ASC_countPresentationContexts(params);
  for (int i = 0; i < count; ++i) {
    T_ASC_PresentationContext pc;
    OFCondition cond = ASC_getPresentationContext(params, i, &pc);
    if (cond.bad())
      return cond;
    if (!dcmIsaStorageSOPClassUID(pc.abstractSyntax, ESSC_All))
      continue;
    for (const auto& ts : kTransferSyntaxes) {
      const auto* proposed = std::find_if(pc.proposedTransferSyntaxes,
                                          pc.proposedTransferSyntaxes + pc.transferSyntaxCount,
                                          [&ts](const DIC_UI& p) { return ts == p; });
      if (proposed == pc.proposedTransferSyntaxes + pc.transferSyntaxCount)
        continue;
      cond = ASC_acceptPresentationContext(params, pc.presentationContextID, ts.c_str(),
                                           pc.proposedRole);
      if (cond.bad())
        return cond;
      break;
    }
  }
  return EC_Normal;
}

OFCondition AcceptServiceContexts(T_ASC_Parameters* params, std::vector<const char*> models) {
  std::vector<const char*> syntaxes = CommandSyntaxes();
  return ASC_acceptContextsWithPreferredTransferSyntaxes(
      params, models.data(), static_cast<int>(models.size()), syntaxes.data(),
      static_cast<int>(syntaxes.size()));
}

}  // namespace

namespace scp {

Result<AccessRules> AccessRules::From(const ScpOptions& options) {
  AccessRules rules;
  auto hosts = ParseIpRanges(options.allowed_hosts);
  if (!hosts.ok())
    return MakeError(ErrorCode::kInvalidArgument, "allowed-hosts: " + hosts.error().message);
  rules.allowed_hosts_ = std::move(hosts.value());
  for (const auto& peer : options.query_peers) {
    auto from = ParseIpRanges(peer.from);
    if (!from.ok()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "remote AE " + peer.aet + ": " + from.error().message);
    }
    rules.query_peers_.push_back({peer.aet, std::move(from.value())});
  }
  return rules;
}

bool AccessRules::HostAllowed(const std::string& ip) const {
  return allowed_hosts_.empty() || AnyContains(allowed_hosts_, ip);
}

bool AccessRules::MayQuery(const std::string& aet, const std::string& ip) const {
  return std::any_of(query_peers_.begin(), query_peers_.end(), [&](const QueryPeerRule& p) {
    return p.aet == aet && AnyContains(p.from, ip);
  });
}

bool Negotiate(T_ASC_Association* assoc, const std::string& peer, const ScpOptions& options,
               const AccessRules& rules, Services services) {
  const std::string calling = assoc->params->DULparams.callingAPTitle;
  const std::string called = assoc->params->DULparams.calledAPTitle;
  auto refuse = [&](T_ASC_RejectParametersReason reason, const std::string& why) {
    spdlog::warn("dicom: refused '{}' ({}): {}", calling, peer, why);
    Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, reason);
    return false;
  };
  if (called != options.aet) {
    std::string why = "called AE '";
    why += called;
    why += "' is not ours";
    return refuse(ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED, why);
  }
  if (!options.allowed_aets.empty() &&
      std::find(options.allowed_aets.begin(), options.allowed_aets.end(), calling) ==
          options.allowed_aets.end()) {
    return refuse(ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED, "calling AE not allowed");
  }
  if (!rules.HostAllowed(peer))
    return refuse(ASC_REASON_SU_NOREASON, "host not allowed");

  OFCondition cond = AcceptServiceContexts(assoc->params, {UID_VerificationSOPClass});
  if (cond.good())
    cond = AcceptStorageContexts(assoc->params);
  if (cond.good() && services.retrieve) {
    cond = AcceptServiceContexts(assoc->params, {UID_MOVEPatientRootQueryRetrieveInformationModel,
                                                 UID_MOVEStudyRootQueryRetrieveInformationModel,
                                                 UID_GETPatientRootQueryRetrieveInformationModel,
                                                 UID_GETStudyRootQueryRetrieveInformationModel});
  }
  if (cond.good() && services.find) {
    cond = AcceptServiceContexts(assoc->params, {UID_FINDPatientRootQueryRetrieveInformationModel,
                                                 UID_FINDStudyRootQueryRetrieveInformationModel});
  }
  if (cond.bad()) {
    spdlog::warn("dicom: negotiation with '{}' failed: {}", calling, cond.text());
    return refuse(ASC_REASON_SU_NOREASON, "negotiation failed");
  }
  ASC_setAPTitles(assoc->params, nullptr, nullptr, options.aet.c_str());
  if (ASC_countAcceptedPresentationContexts(assoc->params) == 0)
    return refuse(ASC_REASON_SU_NOREASON, "proposed nothing we accept");
  cond = ASC_acknowledgeAssociation(assoc);
  if (cond.bad()) {
    spdlog::warn("dicom: cannot acknowledge '{}': {}", calling, cond.text());
    return false;
  }
  spdlog::debug("dicom: association from '{}' ({}) accepted", calling, peer);
  return true;
}

}  // namespace scp

const std::vector<std::string>& AcceptedTransferSyntaxes() {
  return kTransferSyntaxes;
}

std::vector<std::string> AcceptedStorageSopClasses() {
  std::vector<std::string> out;
  for (int i = 0; i < numberOfDcmAllStorageSOPClassUIDs; ++i) {
    if (dcmIsaStorageSOPClassUID(dcmAllStorageSOPClassUIDs[i], ESSC_All))
      out.emplace_back(dcmAllStorageSOPClassUIDs[i]);
  }
  return out;
}

const std::vector<std::string>& AcceptedServiceSopClasses() {
  static const std::vector<std::string> kClasses = {
      UID_VerificationSOPClass,
      UID_FINDPatientRootQueryRetrieveInformationModel,
      UID_FINDStudyRootQueryRetrieveInformationModel,
      UID_MOVEPatientRootQueryRetrieveInformationModel,
      UID_MOVEStudyRootQueryRetrieveInformationModel,
      UID_GETPatientRootQueryRetrieveInformationModel,
      UID_GETStudyRootQueryRetrieveInformationModel};
  return kClasses;
}

const std::vector<std::string>& AcceptedCommandTransferSyntaxes() {
  static const std::vector<std::string> kSyntaxes = {UID_LittleEndianExplicitTransferSyntax,
                                                     UID_LittleEndianImplicitTransferSyntax,
                                                     UID_BigEndianExplicitTransferSyntax};
  return kSyntaxes;
}

}  // namespace dxhub::dicom
