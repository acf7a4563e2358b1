// C-STORE as SCP: the dataset goes to a temp file on the archive's filesystem as it arrives (and,
// when not too large, into memory beside it), and Success is answered only once the StoreHandler
// has archived and indexed it.

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcostrma.h>
#include <dcmtk/dcmdata/dcostrmf.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

#include "core/fs.h"
#include "dicom/instance.h"
#include "dicom/scp/services.h"

namespace dxhub::dicom::scp {
namespace {

// Appends the received dataset to the temp file, keeping a copy of the whole file in memory
// (up to kKeepLimit) so that the archive parses and hashes it without reading it back. A failing
// write (disk full) is remembered, not reported to DCMTK: the DIMSE layer then keeps reading the
// rest of the dataset, so the sender gets a proper "Out of Resources" response instead of an
// aborted association.
class TolerantFileConsumer final : public DcmConsumer {
 public:
  explicit TolerantFileConsumer(const std::string& path)
      : fd_(::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC)) {
    if (fd_ < 0) {
      error_ = errno;
      return;
    }
    contents_.reserve(kBufferSize);
    KeepWhatIsWritten();
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
  OFBool isFlushed() const override { return contents_.size() == written_; }
  offile_off_t avail() const override { return 1 << 30; }
  offile_off_t write(const void* buf, offile_off_t len) override {
    contents_.append(static_cast<const char*>(buf), static_cast<size_t>(len));
    if (contents_.size() - written_ >= kBufferSize)
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
  /// The whole file as written, or null when it was too large to keep (or could not be read).
  std::shared_ptr<const std::string> TakeContents() {
    Drain();
    if (!keeping_ || error_ != 0)
      return nullptr;
    auto taken = std::make_shared<const std::string>(std::move(contents_));
    // Nothing is left to write; the later Drain()s must see that, not a moved-from string.
    keeping_ = false;
    contents_.clear();
    written_ = 0;
    return taken;
  }

 private:
  // PDVs arrive in pieces of the sender's PDU size (often 16 KiB): write in larger blocks.
  static constexpr size_t kBufferSize = size_t{256} * 1024;
  // Most images (CT, MR, CR, DX) are smaller; a larger one is read back from its file. Bounds
  // the memory of the association workers (--max-associations of them, default 32).
  static constexpr size_t kKeepLimit = kInMemoryIngestLimit;

  // DCMTK wrote the File Meta Information before this stream was opened: start the copy with it.
  void KeepWhatIsWritten() {
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || st.st_size < 0 || static_cast<size_t>(st.st_size) > kKeepLimit) {
      keeping_ = false;
      return;
    }
    contents_.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < contents_.size()) {
      ssize_t n =
          ::pread(fd_, contents_.data() + got, contents_.size() - got, static_cast<off_t>(got));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        keeping_ = false;
        break;
      }
      got += static_cast<size_t>(n);
    }
    if (!keeping_)
      contents_.clear();
    written_ = contents_.size();
  }

  void Drain() {
    const char* p = contents_.data() + written_;
    size_t left = contents_.size() - written_;
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
    written_ = contents_.size();
    if (!keeping_ || contents_.size() > kKeepLimit || error_ != 0) {
      keeping_ = false;
      contents_.clear();
      written_ = 0;
    }
  }

  int fd_;
  int error_ = 0;
  bool keeping_ = true;
  std::string contents_;  // the file from its start while keeping_, else what is not yet written
  size_t written_ = 0;    // bytes of contents_ already written to the file
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
  std::shared_ptr<const std::string> TakeContents() { return consumer.TakeContents(); }
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
  std::shared_ptr<const std::string> contents = stream->TakeContents();
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
  Status status = handler.Store(request, temp, contents);
  if (status.ok())
    return Respond(ctx, pres_id, req, STATUS_Success, "");
  spdlog::warn("dicom: C-STORE {} from '{}' refused: {}", req.AffectedSOPInstanceUID, calling,
               status.error().ToString());
  return Respond(ctx, pres_id, req, status.error().DicomStatus(), status.error().message);
}

}  // namespace dxhub::dicom::scp
