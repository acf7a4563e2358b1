// What C-FIND, C-MOVE and C-GET share: the identifier, and the audit of who read what.

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcelem.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "dicom/scp/services.h"

namespace dxhub::dicom::scp {
namespace {

// The identifier of a C-FIND/C-MOVE/C-GET in dxhub terms.
void ParseIdentifier(DcmDataset& identifier, const char* sop_class, const Caller& caller,
                     ReceivedQuery& out) {
  FindQuery& query = out.query;
  query.sop_class_uid = sop_class;
  query.calling_aet = caller.aet;
  query.peer_ip = caller.ip;
  if (identifier.tagExists(DCM_SpecificCharacterSet) && identifier.convertToUTF8().bad()) {
    out.failure = STATUS_FIND_Failed_UnableToProcess;
    out.comment = "identifier character set cannot be converted";
  }
  OFString level;
  identifier.findAndGetOFString(DCM_QueryRetrieveLevel, level);
  query.level = level;
  for (unsigned long i = 0; i < identifier.card(); ++i) {
    DcmElement* element = identifier.getElement(i);
    const DcmTagKey key = element->getTag();
    if (key == DCM_QueryRetrieveLevel || key == DCM_SpecificCharacterSet ||
        element->ident() == EVR_SQ) {
      continue;  // sequence matching is not supported; such keys are left out of answers
    }
    OFString value;
    element->getOFStringArray(value);
    query.keys.emplace_back((static_cast<uint32_t>(key.getGroup()) << 16) | key.getElement(),
                            value.c_str());
  }
}

// "STUDY PatientName=ZHANG* StudyDate=2020" from an identifier: the keys that carry values.
std::string DescribeQuery(const FindQuery& query) {
  std::string out = query.level;
  for (const auto& [tag, value] : query.keys) {
    if (value.empty())
      continue;
    DcmTag dcm_tag(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xFFFF));
    out += ' ';
    out += dcm_tag.getTagName();
    out += '=';
    out += value;
    if (out.size() > 400)
      return out.substr(0, 400) + "...";
  }
  return out;
}

}  // namespace

OFCondition ReceiveQuery(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                         const char* sop_class, ReceivedQuery& out) {
  DcmDataset* raw = nullptr;
  T_ASC_PresentationContextID data_pres_id = pres_id;
  OFCondition cond =
      DIMSE_receiveDataSetInMemory(ctx.assoc, DIMSE_NONBLOCKING, ctx.options.dimse_timeout_s,
                                   &data_pres_id, &raw, nullptr, nullptr);
  std::unique_ptr<DcmDataset> identifier(raw);
  if (cond.good())
    ParseIdentifier(*identifier, sop_class, ctx.caller, out);
  return cond;
}

bool Audit(ServiceContext& ctx, const char* service, const FindQuery& query, std::string detail) {
  if (ctx.auditor == nullptr)
    return true;
  Status recorded = ctx.auditor->Record(
      {service, ctx.caller.aet, ctx.caller.ip, DescribeQuery(query), std::move(detail)});
  if (!recorded.ok()) {
    spdlog::error("dicom: {} from '{}' not audited: {}", service, ctx.caller.aet,
                  recorded.error().ToString());
  }
  return recorded.ok();
}

std::string DescribeStudies(const std::vector<OutgoingInstance>& instances) {
  std::vector<std::string> studies;
  for (const auto& i : instances) {
    if (std::find(studies.begin(), studies.end(), i.study_instance_uid) == studies.end())
      studies.push_back(i.study_instance_uid);
  }
  std::string out = std::to_string(instances.size()) + " instances of " +
                    std::to_string(studies.size()) + " studies";
  for (size_t i = 0; i < studies.size() && i < 32; ++i) {
    out += i == 0 ? ": " : ",";
    out += studies[i];
  }
  if (studies.size() > 32)
    out += ",...";
  return out;
}

std::string DescribeMatches(const std::vector<FindMatch>& matches) {
  constexpr uint32_t kStudyUid = 0x0020000D;
  std::string out = std::to_string(matches.size()) + " matches";
  size_t named = 0;
  for (const auto& match : matches) {
    for (const auto& [tag, value] : match) {
      if (tag == kStudyUid && !value.empty() && named < 32) {
        out += named++ == 0 ? ": " : ",";
        out += value;
      }
    }
  }
  if (named == 32 && matches.size() > 32)
    out += ",...";
  return out;
}

std::unique_ptr<DcmDataset> CommentDetail(const std::string& comment) {
  if (comment.empty())
    return nullptr;
  auto detail = std::make_unique<DcmDataset>();
  detail->putAndInsertString(DCM_ErrorComment, comment.substr(0, 64).c_str());
  return detail;
}

}  // namespace dxhub::dicom::scp
