#include "dicom/pixels.h"

// DCMTK needs osconfig.h first and dcmimage.h before its plugin headers.
// clang-format off
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmimgle/dcmimage.h>
#include <dcmtk/dcmimage/diregist.h>  // colour images in DicomImage
#include <dcmtk/dcmimage/dipipng.h>
#include <dcmtk/dcmjpeg/dipijpeg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
// clang-format on

#include <cstdio>
#include <memory>
#include <mutex>

namespace dxhub::dicom {
namespace {

// DCMTK's decoders are registered process-wide, once.
void RegisterCodecs() {
  static std::once_flag once;
  std::call_once(once, [] {
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

struct Loaded {
  DcmFileFormat file;
  int frames = 0;
};

Result<std::unique_ptr<Loaded>> Load(const std::string& path, int frame_number) {
  RegisterCodecs();
  auto loaded = std::make_unique<Loaded>();
  OFCondition cond =
      loaded->file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
  if (cond.bad())
    return MakeError(ErrorCode::kMalformedDicom, std::string("cannot read: ") + cond.text());
  DcmDataset* ds = loaded->file.getDataset();
  if (!ds->tagExists(DCM_PixelData))
    return MakeError(ErrorCode::kNotFound, "instance has no pixel data");
  Sint32 frames = 1;
  if (ds->findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1)
    frames = 1;
  loaded->frames = frames;
  if (frame_number < 1 || frame_number > frames) {
    return MakeError(ErrorCode::kNotFound, "frame " + std::to_string(frame_number) +
                                               " does not exist (" + std::to_string(frames) +
                                               " frames)");
  }
  return loaded;
}

Error DecodeError(DcmDataset* ds, const OFCondition& cond) {
  DcmXfer xfer(ds->getOriginalXfer());
  if (xfer.getXfer() == EXS_JPEG2000LosslessOnly || xfer.getXfer() == EXS_JPEG2000) {
    return MakeError(ErrorCode::kNotAcceptable, "JPEG 2000 frames cannot be decoded yet");
  }
  return MakeError(ErrorCode::kUnsupported, std::string("cannot decode pixel data (") +
                                                xfer.getXferName() + "): " + cond.text());
}

}  // namespace

Result<std::string> ReadFrame(const std::string& path, int frame_number) {
  auto loaded = Load(path, frame_number);
  if (!loaded.ok())
    return loaded.error();
  DcmDataset* ds = (*loaded)->file.getDataset();
  DcmElement* pixel_data = nullptr;
  ds->findAndGetElement(DCM_PixelData, pixel_data);
  Uint32 frame_size = 0;
  OFCondition cond = pixel_data->getUncompressedFrameSize(ds, frame_size);
  if (cond.bad() || frame_size == 0)
    return DecodeError(ds, cond);
  std::string frame(frame_size, '\0');
  Uint32 start_fragment = 0;
  OFString colour_model;
  cond = pixel_data->getUncompressedFrame(ds, static_cast<Uint32>(frame_number - 1), start_fragment,
                                          frame.data(), frame_size, colour_model);
  if (cond.bad())
    return DecodeError(ds, cond);
  return frame;
}

Result<std::string> RenderFrame(const std::string& path, int frame_number,
                                const RenderOptions& options) {
  auto loaded = Load(path, frame_number);
  if (!loaded.ok())
    return loaded.error();
  DcmDataset* ds = (*loaded)->file.getDataset();
  DicomImage image(&(*loaded)->file, ds->getOriginalXfer(), CIF_UsePartialAccessToPixelData,
                   static_cast<unsigned long>(frame_number - 1), 1);
  if (image.getStatus() != EIS_Normal)
    return DecodeError(ds, EC_IllegalCall);
  if (image.isMonochrome()) {
    if (options.window_center && options.window_width) {
      image.setWindow(*options.window_center, *options.window_width);
    } else if (image.getWindowCount() > 0) {
      image.setWindow(0);
    } else {
      image.setMinMaxWindow();
    }
  }
  // DCMTK's writer plugins write to a FILE*; an in-memory stream avoids a temp file.
  char* buffer = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&buffer, &size);
  if (out == nullptr)
    return MakeError(ErrorCode::kInternal, "open_memstream failed");
  int ok = 0;
  if (options.format == RenderOptions::Format::kPng) {
    DiPNGPlugin png;
    png.setInterlaceType(E_pngInterlaceNone);  // faster to encode and to show progressively
    ok = image.writePluginFormat(&png, out, 0);
  } else {
    DiJPEGPlugin jpeg;
    jpeg.setQuality(static_cast<unsigned int>(options.quality));
    ok = image.writePluginFormat(&jpeg, out, 0);
  }
  std::fclose(out);  // NOLINT(cppcoreguidelines-owning-memory): C stream API
  std::string encoded(buffer != nullptr ? buffer : "", buffer != nullptr ? size : 0);
  // open_memstream allocated the buffer with malloc; it is ours to free.
  std::free(buffer);  // NOLINT(cppcoreguidelines-no-malloc,cppcoreguidelines-owning-memory)
  if (!ok || encoded.empty())
    return MakeError(ErrorCode::kInternal, "image encoding failed");
  return encoded;
}

}  // namespace dxhub::dicom
