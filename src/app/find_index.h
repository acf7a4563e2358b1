#pragma once
// C-FIND answered from the index: DIMSE identifiers become index queries (the same matching
// as QIDO-RS, see store/query_keys.h).

#include <string>

#include "dicom/store_scp.h"
#include "store/study_index.h"

namespace dxhub::app {

class FindIndex final : public dicom::FindHandler {
 public:
  FindIndex(store::StudyIndex& index, std::string aet) : index_(index), aet_(std::move(aet)) {}
  Result<std::vector<dicom::FindMatch>> Find(const dicom::FindQuery& query) override;

 private:
  store::StudyIndex& index_;
  std::string aet_;  // RetrieveAETitle in answers
};

}  // namespace dxhub::app
