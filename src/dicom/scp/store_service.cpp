// C-STORE as SCP: the dataset goes to a temp file on the archive's filesystem as it arrives,
// and Success is answered only once the StoreHandler has archived and indexed it.

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcostrma.h>
#include <dcmtk/dcmdata/dcostrmf.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "core/fs.h"
#include "dicom/scp/services.h"

namespace dxhub::dicom::scp {
namespace {

// Appends the received dataset to the temp file. A failing write (disk full) is remembered, not
// reported to DCMTK: the DIMSE layer then keeps reading the rest of the dataset, so the sender
// gets a proper "Out of Resources" response instead of an aborted association.
class TolerantFileConsumer final : public DcmConsumer {
 public:
  explicit TolerantFileConsumer(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC)) {
    if (fd_ < 0)
      error_ = errno;
    buffer_.reserve(kBufferSize);
  }
  ~TolerantFileConsumer() override {
    Drain();
    if (fd_ >= 0)
      ::close(fd_);
  }
  TolerantFileConsumer(const TolerantFileConsumer&) = delete;
  TolerantFileConsumer& operator=(const TolerantFileConsumer&) = delete;

  OFBool good() const override { return OFTrue; }
  OFCondition status() const override { return EC_Normal; }
  OFBool isFlushed() const override { return buffer_.empty(); }
  offile_off_t avail() const override { return 1 << 30; }
  offile_off_t write(const void* buf, offile_off_t len) override {
    const char* p = static_cast<const char*>(buf);
    buffer_.insert(buffer_.end(), p, p + len);
    if (buffer_.size() >= kBufferSize)
      Drain();
    return len;
  }
  void flush() override { Drain(); }
  /// 0, or the errno of the first failed write (or of opening the file). Final once the
  /// consumer was flushed.
  int error() {
    Drain();
    return error_;
  }

 private:
  // PDVs arrive in pieces of the sender's PDU size (often 16 KiB): write in larger blocks.
  static constexpr size_t kBufferSize = size_t{256} * 1024;

  void Drain() {
    const char* p = buffer_.data();
    size_t left = buffer_.size();
    while (error_ == 0 && left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno != EINTR)
          error_ = errno;
        continue;
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    buffer_.clear();
  }

  int fd_;
  int error_ = 0;
  std::vector<char> buffer_;
};

// DcmOutputStream's constructor is protected and needs its consumer to exist first.
struct ConsumerHolder {
  explicit ConsumerHolder(const std::string& path) : consumer(path) {}
  TolerantFileConsumer consumer;
};
class TolerantFileStream final : private ConsumerHolder, public DcmOutputStream {
 public:
  explicit TolerantFileStream(const std::string& path)
      : ConsumerHolder(path), DcmOutputStream(&consumer) {}
  int error() { return consumer.error(); }
};

OFCondition Respond(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                    const T_DIMSE_C_StoreRQ& req, Uint16 status, const std::string& comment) {
  T_DIMSE_C_StoreRSP rsp{};
  rsp.MessageIDBeingRespondedTo = req.MessageID;
  rsp.DimseStatus = status;
  rsp.DataSetType = DIMSE_DATASET_NULL;
  OFStandard::strlcpy(rsp.AffectedSOPClassUID, req.AffectedSOPClassUID,
                      sizeof rsp.AffectedSOPClassUID);
  OFStandard::strlcpy(rsp.AffectedSOPInstanceUID, req.AffectedSOPInstanceUID,
                      sizeof rsp.AffectedSOPInstanceUID);
  rsp.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
  // Status detail elements go into the response command set.
  std::unique_ptr<DcmDataset> detail = CommentDetail(comment);
  return DIMSE_sendStoreResponse(ctx.assoc, pres_id, &req, &rsp, detail.get());
}

}  // namespace

OFCondition ServeStore(ServiceContext& ctx, StoreHandler& handler,
                       T_ASC_PresentationContextID pres_id, const T_DIMSE_C_StoreRQ& req) {
  const std::string& calling = ctx.caller.aet;
  const int timeout_s = ctx.options.dimse_timeout_s;
  const std::string temp = handler.NewTempPath();

  // DCMTK writes the File Meta Information header from the request; the dataset itself is
  // appended by a stream that survives a full disk (see TolerantFileConsumer).
  DcmOutputFileStream* raw_meta = nullptr;
  OFCondition cond =
      DIMSE_createFilestream(OFFilename(temp.c_str()), &req, ctx.assoc, pres_id, OFTrue, &raw_meta);
  std::unique_ptr<DcmOutputFileStream> meta(raw_meta);
  bool meta_ok = cond.good() && meta && meta->good();
  if (meta) {
    meta->flush();
    meta_ok = meta_ok && meta->good();
    meta.reset();
  }
  std::unique_ptr<TolerantFileStream> stream;
  if (meta_ok)
    stream = std::make_unique<TolerantFileStream>(temp);
  if (!meta_ok || stream->error() != 0) {
    // Cannot even create the file (disk full, permissions): drain the dataset, refuse it.
    stream.reset();
    DIC_UL bytes = 0;
    DIC_UL pdvs = 0;
    cond = DIMSE_ignoreDataSet(ctx.assoc, DIMSE_NONBLOCKING, timeout_s, &bytes, &pdvs);
    fs::RemoveQuiet(temp);
    if (cond.bad())
      return cond;
    spdlog::error("dicom: cannot create temp file for C-STORE from '{}'", calling);
    return Respond(ctx, pres_id, req, STATUS_STORE_Refused_OutOfResources,
                   "archive cannot create file");
  }
  T_ASC_PresentationContextID data_pres_id = pres_id;
  cond = DIMSE_receiveDataSetInFile(ctx.assoc, DIMSE_NONBLOCKING, timeout_s, &data_pres_id,
                                    stream.get(), nullptr, nullptr);
  const int write_error = stream->error();
  stream.reset();  // close the file before anyone reads it
  if (cond.bad()) {
    // The association broke mid-dataset: nothing was acknowledged, so nothing may remain.
    fs::RemoveQuiet(temp);
    spdlog::warn("dicom: C-STORE from '{}' interrupted: {}", calling, cond.text());
    return cond;
  }
  if (write_error != 0) {
    fs::RemoveQuiet(temp);
    Error error = fs::ErrnoError(write_error, "write");
    spdlog::error("dicom: C-STORE {} from '{}' not stored: {}", req.AffectedSOPInstanceUID, calling,
                  error.message);
    return Respond(ctx, pres_id, req, error.DicomStatus(), error.message);
  }
  StoreRequest request{calling, ctx.caller.ip, req.AffectedSOPClassUID, req.AffectedSOPInstanceUID};
  Status status = handler.Store(request, temp);
  if (status.ok())
    return Respond(ctx, pres_id, req, STATUS_Success, "");
  spdlog::warn("dicom: C-STORE {} from '{}' refused: {}", req.AffectedSOPInstanceUID, calling,
               status.error().ToString());
  return Respond(ctx, pres_id, req, status.error().DicomStatus(), status.error().message);
}

}  // namespace dxhub::dicom::scp
