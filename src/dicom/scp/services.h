#pragma once
// Internal to src/dicom: the DIMSE services of the SCP, one file each (store_service.cpp,
// find_service.cpp, retrieve_service.cpp for C-MOVE and C-GET), and what they share
// (query_service.cpp: identifiers, access, audit).
//
// Each Serve* function answers one request on an established association. A bad condition
// means the association broke (the caller aborts it); refusals and failures are DIMSE
// responses with a status, never a bad condition.

#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>

#include <memory>
#include <string>

#include "dicom/store_scp.h"

namespace dxhub::dicom::scp {

/// PS3.7 C.5: Refused: Not Authorized.
constexpr Uint16 kNotAuthorized = 0x0124;

/// The calling side of an association, as access rules and the audit see it.
struct Caller {
  std::string aet;
  std::string ip;          // numeric, never a name from reverse DNS
  bool may_query = false;  // a configured query/retrieve peer, from an allowed address
};

/// What every service needs of the association it answers on.
struct ServiceContext {
  T_ASC_Association* assoc;
  const ScpOptions& options;
  DimseAuditor* auditor;  // may be null: nothing is audited
  Caller caller;
};

OFCondition ServeStore(ServiceContext& ctx, StoreHandler& handler,
                       T_ASC_PresentationContextID pres_id, const T_DIMSE_C_StoreRQ& req);
OFCondition ServeFind(ServiceContext& ctx, FindHandler& handler,
                      T_ASC_PresentationContextID pres_id, const T_DIMSE_C_FindRQ& req);
OFCondition ServeMove(ServiceContext& ctx, MoveHandler& handler,
                      T_ASC_PresentationContextID pres_id, const T_DIMSE_C_MoveRQ& req);
OFCondition ServeGet(ServiceContext& ctx, MoveHandler& handler, T_ASC_PresentationContextID pres_id,
                     const T_DIMSE_C_GetRQ& req);

// --- shared by FIND, MOVE and GET (query_service.cpp) ---

/// A received C-FIND/C-MOVE/C-GET identifier in dxhub terms. `failure` is non-zero (with a
/// comment) when it cannot be used.
struct ReceivedQuery {
  FindQuery query;
  Uint16 failure = 0;
  std::string comment;
};

/// Receives and parses the identifier that follows a query or retrieve command.
OFCondition ReceiveQuery(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                         const char* sop_class, ReceivedQuery& out);

/// Records a query or retrieve; false when it cannot be recorded (the caller then refuses).
bool Audit(ServiceContext& ctx, const char* service, const FindQuery& query, std::string detail);

/// The audit's detail for a caller that is not a configured query/retrieve peer.
inline constexpr const char* kNotAQueryPeer =
    "refused: not a configured query/retrieve peer from this address";

/// "3 instances of 1 studies: <uid>" for the audit of a retrieve.
std::string DescribeStudies(const std::vector<OutgoingInstance>& instances);
/// "3 matches: <uid>,..." for the audit of a C-FIND.
std::string DescribeMatches(const std::vector<FindMatch>& matches);

/// A status detail with ErrorComment (LO, cut to 64 characters), or null for no comment.
std::unique_ptr<DcmDataset> CommentDetail(const std::string& comment);

}  // namespace dxhub::dicom::scp
